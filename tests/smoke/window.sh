#!/usr/bin/env bash
# Real-window smoke test: the release binary in a real X window (Xvfb, Mesa software GL),
# connected to a separately started emulator. Takes a screenshot, checks it is not blank,
# quits with Ctrl+Q and expects a clean exit. Leaves the screenshot in $SMOKE_OUT (default
# target/smoke/window.png).
#
# Needs: xvfb, xdotool, imagemagick, and Mesa's GL (libgl1-mesa-dri); .ci/run installs them.
set -euo pipefail
cd "$(dirname "$0")/../.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/runflow-uploader"
OUT="${SMOKE_OUT:-$CARGO_TARGET_DIR/smoke/window.png}"
mkdir -p "$(dirname "$OUT")"
WORK="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# A private X server on a free display number.
display=""
for n in $(seq 90 120); do
  if [ ! -e "/tmp/.X11-unix/X$n" ] && [ ! -e "/tmp/.X$n-lock" ]; then display=":$n"; break; fi
done
[ -n "$display" ] || { echo "smoke: no free X display number"; exit 1; }
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do xdpyinfo -display "$display" >/dev/null 2>&1 && break; sleep 0.1; done
export DISPLAY="$display"
unset WAYLAND_DISPLAY

"$BIN" emulator --addr 127.0.0.1:0 --api-key rf_smoke_key --demo-data >"$WORK/emu.out" 2>"$WORK/emu.err" &
pids+=($!)
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/emu.out" 2>/dev/null && break; sleep 0.1; done
BASE="$(grep -o 'http://[0-9.:]*' "$WORK/emu.out" | head -n1)"
[ -n "$BASE" ] || { echo "smoke: the emulator did not start"; cat "$WORK/emu.err"; exit 1; }

RUNFLOW_API_KEY=rf_smoke_key RUNFLOW_BASE_URL="$BASE" \
  RUNFLOW_UPLOADER_DATA_DIR="$WORK/data" RUNFLOW_UPLOADER_CONFIG_DIR="$WORK/config" \
  RUNFLOW_UPLOADER_STATE_DIR="$WORK/state" RUNFLOW_UPLOADER_CACHE_DIR="$WORK/cache" \
  RUNFLOW_UPLOADER_INSTANCE_DIR="$WORK/run" \
  RUNFLOW_UPLOADER_KEYRING=memory "$BIN" >"$WORK/app.log" 2>&1 &
app=$!
pids+=("$app")

# Wait for the window, then for the demo data to be listed.
window=""
for _ in $(seq 1 100); do
  window="$(xdotool search --name '^Runflow Uploader$' 2>/dev/null | head -n1 || true)"
  [ -n "$window" ] && break
  sleep 0.1
done
[ -n "$window" ] || { echo "smoke: no window appeared"; cat "$WORK/app.log"; exit 1; }
sleep 3
import -window root "$OUT"

# Not blank: a real UI has many colours and visible contrast.
colours="$(convert "$OUT" -format '%k' info:)"
deviation="$(convert "$OUT" -colorspace Gray -format '%[fx:standard_deviation]' info:)"
echo "smoke: screenshot $OUT has $colours colours, grey deviation $deviation"
if [ "$colours" -lt 16 ] || awk "BEGIN {exit !($deviation < 0.02)}"; then
  echo "smoke: the screenshot looks blank"; exit 1
fi

# Quit like a user would and expect a clean exit.
xdotool windowfocus --sync "$window" key --clearmodifiers ctrl+q
for _ in $(seq 1 100); do kill -0 "$app" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$app" 2>/dev/null; then echo "smoke: the app did not quit on Ctrl+Q"; exit 1; fi
status=0; wait "$app" || status=$?
[ "$status" -eq 0 ] || { echo "smoke: the app exited with $status"; cat "$WORK/app.log"; exit 1; }
if grep -qi "panicked" "$WORK/app.log"; then echo "smoke: the app panicked"; cat "$WORK/app.log"; exit 1; fi
echo "smoke: 1 passed, 0 failed"
