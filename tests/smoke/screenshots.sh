#!/usr/bin/env bash
# Takes the README's screenshots from the real window under Xvfb: the welcome screen, and the
# main view mid-batch (files pasted as paths, uploading to a deliberately slow emulator), and
# the library with a folder open and an asset's details, the History tab after the batch, and
# Settings > Watch folders, and the Uploads panel offering copies of images Runflow does not take.
# Writes assets/screenshots/{welcome,main,library,history,watch-folders,fixes}.png; with step
# numbers as arguments (`screenshots.sh 6`), only those. Needs what tests/smoke/window.sh needs,
# plus xclip.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/runflow-uploader"
WORK="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p assets/screenshots

export DISPLAY=:97
unset WAYLAND_DISPLAY
Xvfb "$DISPLAY" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done

"$BIN" emulator --addr 127.0.0.1:0 --api-key rf_shot --demo-data --put-bytes-per-sec 600000 \
  >"$WORK/emu.out" 2>/dev/null &
pids+=($!)
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/emu.out" 2>/dev/null && break; sleep 0.1; done
BASE="$(grep -o 'http://[0-9.:]*' "$WORK/emu.out" | head -n1)"

app_window() { # -> window id once it exists
  for _ in $(seq 1 100); do
    w="$(xdotool search --name '^Runflow Uploader$' 2>/dev/null | head -n1 || true)"
    [ -n "$w" ] && { echo "$w"; return; }
    sleep 0.1
  done
  echo "no window" >&2; exit 1
}

# `with_dirs N CMD...`: CMD with the key, the emulator and the N-th set of private directories.
with_dirs() {
  local n="$1"; shift
  RUNFLOW_API_KEY=rf_shot RUNFLOW_BASE_URL="$BASE" RUNFLOW_UPLOADER_DATA_DIR="$WORK/d$n" \
    RUNFLOW_UPLOADER_CONFIG_DIR="$WORK/c$n" RUNFLOW_UPLOADER_STATE_DIR="$WORK/s$n" \
    RUNFLOW_UPLOADER_CACHE_DIR="$WORK/k$n" RUNFLOW_UPLOADER_INSTANCE_DIR="$WORK/r$n" \
    RUNFLOW_UPLOADER_KEYRING=memory "$@"
}

steps=" ${*:-1 2 3 4 5 6} "
want() { [[ "$steps" == *" $1 "* ]]; }

# 1. The welcome screen: no key anywhere.
if want 1; then
  RUNFLOW_BASE_URL="$BASE" RUNFLOW_UPLOADER_DATA_DIR="$WORK/d1" RUNFLOW_UPLOADER_CONFIG_DIR="$WORK/c1" \
    RUNFLOW_UPLOADER_STATE_DIR="$WORK/s1" RUNFLOW_UPLOADER_CACHE_DIR="$WORK/k1" RUNFLOW_UPLOADER_INSTANCE_DIR="$WORK/r1" \
    RUNFLOW_UPLOADER_KEYRING=memory "$BIN" >/dev/null 2>&1 &
  app=$!
  w="$(app_window)"
  sleep 2
  import -window "$w" assets/screenshots/welcome.png
  xdotool windowfocus --sync "$w" key --clearmodifiers ctrl+q
  wait "$app" || true
fi
# 2. The main view mid-batch.
if want 2; then
  mkdir -p "$WORK/photos"
  for i in $(seq -w 1 24); do
    convert -size "$((400 + 10#$i * 40))x$((300 + 10#$i * 25))" "plasma:" "$WORK/photos/shot-$i.png"
  done
  printf 'not media' >"$WORK/photos/notes.txt"
  with_dirs 2 "$BIN" >/dev/null 2>&1 &
  app=$!
  w="$(app_window)"
  sleep 2
  ls -d "$WORK/photos"/* | xclip -selection clipboard
  xdotool windowfocus --sync "$w" key --clearmodifiers ctrl+v
  sleep 6
  import -window "$w" assets/screenshots/main.png
  xdotool windowfocus --sync "$w" key --clearmodifiers ctrl+q
  wait "$app" || true
fi
# 3. The library: a folder from the tree, a card selected, its details.
if want 3; then
  with_dirs 3 "$BIN" >/dev/null 2>&1 &
  app=$!
  w="$(app_window)"
  sleep 3
  xdotool windowfocus --sync "$w"
  xdotool mousemove --window "$w" 75 130 click 1   # "Product shots" in the folder tree
  sleep 2
  xdotool mousemove --window "$w" 300 200 click --repeat 2 1   # double-click the first card
  sleep 2
  import -window "$w" assets/screenshots/library.png
  xdotool windowfocus --sync "$w" key --clearmodifiers ctrl+q
  wait "$app" || true
fi
# 4. The History tab: a few files uploaded by the command line, then the window on the same data.
if want 4; then
  mkdir -p "$WORK/renders"
  for name in hero-banner product-front product-back moodboard-01 moodboard-02 storyboard-frame-12; do
    convert -size 320x240 "plasma:" "$WORK/renders/$name.png"
  done
  with_dirs 4 "$BIN" upload "$WORK/renders" >/dev/null 2>&1
  with_dirs 4 "$BIN" >/dev/null 2>&1 &
  app=$!
  w="$(app_window)"
  sleep 3
  xdotool windowfocus --sync "$w"
  xdotool mousemove --window "$w" 994 46 click 1   # the "History" tab (the queue is empty)
  sleep 2
  import -window "$w" assets/screenshots/history.png
  xdotool windowfocus --sync "$w" key --clearmodifiers ctrl+q
  wait "$app" || true
fi
# 5. Settings > Watch folders: one watching (its three files upload at start), one whose disk is
# not mounted, one paused.
if want 5; then
  mkdir -p "$WORK/Renders" "$WORK/Paused shots" "$WORK/c5"
  for i in 1 2 3; do convert -size 320x200 "plasma:" "$WORK/Renders/frame-000$i.png"; done
  printf '{"watch_folders": [{"dir": "%s"}, {"dir": "/media/backup/Exports"}, {"dir": "%s", "paused": true}]}\n' \
    "$WORK/Renders" "$WORK/Paused shots" >"$WORK/c5/settings.json"
  with_dirs 5 "$BIN" >/dev/null 2>&1 &
  app=$!
  w="$(app_window)"
  sleep 8
  xdotool windowfocus --sync "$w"
  xdotool mousemove --window "$w" 1240 16 click 1   # "Settings"
  sleep 2
  import -window "$w" assets/screenshots/watch-folders.png
  xdotool windowfocus --sync "$w" key --clearmodifiers Escape
  sleep 0.5
  xdotool windowfocus --sync "$w" key --clearmodifiers ctrl+q
  wait "$app" || true
fi
# 6. Images Runflow does not take: a HEIC, a TIFF and a PNG over 50 MiB, and a BMP pasted; the
# HEIC's "Convert and upload" clicked, so its row says what went and the others still ask.
if want 6; then
  mkdir -p "$WORK/camera"
  convert -size 1600x1200 "plasma:" "$WORK/camera/photo.png"
  heif-enc -q 80 -o "$WORK/camera/IMG_0042.HEIC" "$WORK/camera/photo.png" >/dev/null
  # A 16-bit A3 scan: a type Runflow does not take, and over 50 MiB (about 100 MiB).
  convert -size 3508x4961 "plasma:" -depth 16 -compress none "$WORK/camera/scan-A3.tiff"
  # 16-bit noise does not compress: about 64 MiB.
  convert -size 3700x3000 xc:gray -type TrueColor +noise Random -depth 16 "$WORK/camera/render-0001.png"
  convert -size 1920x1080 xc:white -fill '#3465a4' -draw 'rectangle 0,0 1920,48' \
    -fill '#eeeeec' -draw 'rectangle 0,48 320,1080' "$WORK/camera/screenshot.bmp"
  rm "$WORK/camera/photo.png"
  with_dirs 6 "$BIN" >/dev/null 2>&1 &
  app=$!
  w="$(app_window)"
  sleep 2
  LC_ALL=C ls -d "$WORK/camera"/* | xclip -selection clipboard
  xdotool windowfocus --sync "$w" key --clearmodifiers ctrl+v
  sleep 4
  xdotool mousemove --window "$w" 1135 221 click 1   # the HEIC row's "Convert and upload"
  sleep 6
  import -window "$w" assets/screenshots/fixes.png
  xdotool windowfocus --sync "$w" key --clearmodifiers ctrl+q
  wait "$app" || true
fi
echo "screenshots: assets/screenshots/{welcome,main,library,history,watch-folders,fixes}.png"
