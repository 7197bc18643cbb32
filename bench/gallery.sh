#!/usr/bin/env bash
# Benchmark: the gallery grid scrolled through 10,000 assets with thumbnails, in release.
# Prints median/p95/max frame time (logic + UI pass + tessellation), peak RSS, and PASS/FAIL
# against the targets (median frame under 2 ms, peak RSS under 300 MiB). See benches/gallery.rs.
#
#   bench/gallery.sh
#   GALLERY_PPP=2 bench/gallery.sh                              # a HiDPI screen
#   GALLERY_WIDTH=1920 GALLERY_HEIGHT=1080 bench/gallery.sh     # a bigger grid
#   GALLERY_FRAMES_CSV=/tmp/frames.csv bench/gallery.sh         # every frame's times
#
# Frame times are wall clock: run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/runflow-uploader-target}"
exec cargo bench --quiet --bench gallery
