#!/usr/bin/env bash
# Renders the app icon's PNG sizes from the SVG. Run after editing io.runflow.Uploader.svg and
# commit the PNGs; the build and CI only read them. Needs rsvg-convert (librsvg2-bin).
set -euo pipefail
cd "$(dirname "$0")"
for size in 16 32 48 64 128 256 512; do
  mkdir -p "${size}x${size}"
  rsvg-convert -w "$size" -h "$size" io.runflow.Uploader.svg -o "${size}x${size}/io.runflow.Uploader.png"
done
