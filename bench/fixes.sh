#!/usr/bin/env bash
# Benchmark: `runflow-uploader upload --convert --fit` on images Runflow does not take as they
# are (a HEIC photo, a TIFF scan, a BMP screenshot, a translucent ICO, a JPEG XL photo, a 16-bit
# PNG over 50 MiB) and, alone, a 54-megapixel noise PNG that must be scaled down to fit, against
# the local emulator. Prints what each file became, the wall time and peak RSS of each run, and
# the same files uploaded again (all "already uploaded", nothing converted twice).
#
#   bench/fixes.sh
#   RUNFLOW_UPLOADER_BIN=/path/to/runflow-uploader bench/fixes.sh   # no build
#
# Needs: a release build (done here unless RUNFLOW_UPLOADER_BIN is given), ImageMagick
# (`convert`), heif-enc (libheif-examples), cjxl (libjxl-tools), jq, GNU time (/usr/bin/time).
# The files are made before any timing; each run has its own empty data, config and state dirs.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

if [ -n "${RUNFLOW_UPLOADER_BIN:-}" ]; then
  BUILT="$RUNFLOW_UPLOADER_BIN"
else
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
  cargo build --release --quiet
  BUILT="$CARGO_TARGET_DIR/release/runflow-uploader"
fi
[ -x "$BUILT" ] || { echo "no runflow-uploader binary at $BUILT"; exit 1; }
for tool in convert heif-enc cjxl jq; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (see the header)"; exit 1; }
done
[ -x /usr/bin/time ] || { echo "GNU time is needed (apt-get install time)"; exit 1; }

WORK="$(mktemp -d)"
EMU_PID=""
cleanup() {
  if [ -n "$EMU_PID" ]; then kill "$EMU_PID" 2>/dev/null || true; wait "$EMU_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
BIN="$WORK/runflow-uploader"
cp "$BUILT" "$BIN"

KEY="rf_bench_key"
"$BIN" emulator --addr 127.0.0.1:0 --api-key "$KEY" >"$WORK/emulator.out" 2>"$WORK/emulator.err" &
EMU_PID=$!
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/emulator.out" 2>/dev/null && break; sleep 0.1; done
BASE="$(grep -o 'http://[0-9.:]*' "$WORK/emulator.out" | head -n1)"
[ -n "$BASE" ] || { echo "the emulator did not start:"; cat "$WORK/emulator.err"; exit 1; }

# The files. Photos are ImageMagick's plasma fractal (smooth, with fine detail, as a photo has).
M="$WORK/media"
mkdir -p "$M/six" "$M/big"
convert -size 4032x3024 -seed 42 plasma: -depth 8 "$WORK/photo.png"
heif-enc -q 85 -o "$M/six/IMG_0042.HEIC" "$WORK/photo.png" >/dev/null
convert -size 2480x3508 -seed 7 plasma: -depth 8 -compress none "$M/six/scan-A4.tiff"
convert -size 1920x1080 xc:white -fill '#3465a4' -draw 'rectangle 0,0 1920,48' \
  -fill '#eeeeec' -draw 'rectangle 0,48 320,1080' -fill black -pointsize 28 \
  -draw "text 360,120 'Quarterly report'" "BMP3:$M/six/screenshot.bmp"
convert -size 256x256 xc:none -fill '#cc0000' -draw 'circle 128,128 128,16' \
  -define icon:auto-resize=256 "$M/six/favicon.ico"
convert -size 1600x1200 -seed 3 plasma: -depth 8 "$WORK/small.png"
cjxl -q 90 "$WORK/small.png" "$M/six/photo.jxl" >/dev/null 2>&1
convert -size 3700x3000 xc:gray -type TrueColor +noise Random -depth 16 "$M/six/render-0001.png"
convert -size 9000x6000 xc:gray -type TrueColor +noise Random -depth 8 "$M/big/panorama.png"
rm "$WORK/photo.png" "$WORK/small.png"
sync

# `run NAME DIR`: one upload of DIR with its own dirs (NAME), timed; the JSON lines go to
# $WORK/NAME.json, "seconds peak_kib" to $WORK/NAME.time.
run() {
  local name="$1" dir="$2" d="$WORK/dirs-$3"
  /usr/bin/time -f '%e %M' -o "$WORK/$name.time" \
    env RUNFLOW_API_KEY="$KEY" RUNFLOW_BASE_URL="$BASE" RUNFLOW_UPLOADER_KEYRING=memory \
    RUNFLOW_UPLOADER_DATA_DIR="$d/data" RUNFLOW_UPLOADER_CONFIG_DIR="$d/config" \
    RUNFLOW_UPLOADER_STATE_DIR="$d/state" RUNFLOW_UPLOADER_CACHE_DIR="$d/cache" \
    "$BIN" upload --convert --fit --json "$dir" >"$WORK/$name.json" || {
    echo "bench: the $name run failed:"; cat "$WORK/$name.json"; exit 1
  }
}
run six "$M/six" a
run panorama "$M/big" b
run again "$M/six" a

human() { awk -v b="$1" 'BEGIN { split("B KiB MiB GiB", u); i = 1
  while (b >= 1024 && i < 4) { b /= 1024; i++ }; printf (i == 1 ? "%d %s" : "%.1f %s"), b, u[i] }'; }
echo "| file | as it was | what was uploaded |"
echo "| --- | --- | --- |"
for json in "$WORK/six.json" "$WORK/panorama.json"; do
  jq -r 'select(.type == "file") | [.path, .status, (.converted_to.name // "-"),
    (.converted_to.description // .reason // "-"),
    "\(.converted_to.width)×\(.converted_to.height)"] | @tsv' "$json" |
    while IFS=$'\t' read -r path status name description copy_dims; do
      [ "$status" = uploaded ] || { echo "bench: $path ended $status"; exit 1; }
      size="$(human "$(stat -c %s "$path")")"
      # ImageMagick may not read JPEG XL: the copy's sides are the original's unless scaled.
      dims="$(identify -format '%w×%h %[depth]-bit\n' "$path" 2>/dev/null | head -n1 || true)"
      dims="${dims:-$copy_dims}"
      echo "| ${path##*/} | $dims, $size | $name: $description |"
    done
done
seconds() { cut -d' ' -f1 "$WORK/$1.time"; }
peak_mb() { awk '{printf "%.0f", $2 / 1024}' "$WORK/$1.time"; }
again="$(jq -r 'select(.type == "summary") | .counts.already_uploaded' "$WORK/again.json")"
[ "$again" = 6 ] || { echo "bench: the second run found $again of 6 already uploaded"; exit 1; }
echo
echo "the six files: $(seconds six) s, peak RSS $(peak_mb six) MB"
echo "panorama.png alone: $(seconds panorama) s, peak RSS $(peak_mb panorama) MB"
echo "the six again, all already uploaded: $(seconds again) s"
