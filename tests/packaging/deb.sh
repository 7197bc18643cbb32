#!/usr/bin/env bash
# The Debian package for real: builds it with cargo-deb, installs it with dpkg, checks the files
# and validates the desktop entry and the AppStream metainfo as installed, launches the entry's
# Exec line (with %F = a test image) under Xvfb against an emulator, checks the window (title,
# WM_CLASS, icon) and that the image gets uploaded, launches it again with a second image (which
# must be handed to the open window), quits, removes the package and checks nothing is left.
#
# Needs root, dpkg, cargo-deb, xvfb, xdotool, xprop/xdpyinfo (x11-utils), desktop-file-utils
# and appstream; .ci/run installs them. Leaves the .deb in $CARGO_TARGET_DIR/debian/.
set -euo pipefail
cd "$(dirname "$0")/../.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
APP_ID=io.runflow.Uploader
PKG=runflow-uploader
WORK="$(mktemp -d)"
pids=()
installed=0
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ "$installed" = 1 ]; then dpkg -r "$PKG" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "deb: $*"; for f in "$WORK"/*.log; do [ -s "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }; done; exit 1; }

if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q "install ok installed"; then
  fail "$PKG is already installed on this machine; remove it first (dpkg -r $PKG)"
fi

# The release build is the smoke test's (same profile), so this only packages it.
cargo build --release --quiet
deb="$(cargo deb --no-build --quiet 2>"$WORK/cargo-deb.log" | tail -n1)" || fail "cargo deb failed"
[ -f "$deb" ] || fail "cargo deb printed no package path"
echo "deb: built $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --info "$deb" | grep -E "^ (Package|Version|Depends|Section):"

dpkg -i "$deb" >"$WORK/dpkg.log" 2>&1 || fail "dpkg -i failed"
installed=1
files=(
  /usr/bin/runflow-uploader
  "/usr/share/applications/$APP_ID.desktop"
  "/usr/share/metainfo/$APP_ID.metainfo.xml"
  "/usr/share/icons/hicolor/scalable/apps/$APP_ID.svg"
)
for size in 16 32 48 64 128 256 512; do
  files+=("/usr/share/icons/hicolor/${size}x${size}/apps/$APP_ID.png")
done
listed="$(dpkg -L "$PKG")"
for f in "${files[@]}"; do
  [ -e "$f" ] || fail "$f was not installed"
  grep -qxF "$f" <<<"$listed" || fail "$f is not listed by dpkg -L"
done
[ -x /usr/bin/runflow-uploader ] || fail "the binary is not executable"
version="$(dpkg-deb -f "$deb" Version)"
[ "$(runflow-uploader --version)" = "runflow-uploader ${version%-*}" ] \
  || fail "the installed binary says $(runflow-uploader --version), the package $version"
validation="$(desktop-file-validate "/usr/share/applications/$APP_ID.desktop" 2>&1)" \
  || fail "desktop-file-validate failed: $validation"
if grep -v ": hint: " <<<"$validation" | grep -q .; then fail "desktop-file-validate: $validation"; fi
appstreamcli validate --no-net --explain "/usr/share/metainfo/$APP_ID.metainfo.xml" >"$WORK/appstream.log" 2>&1 \
  || fail "appstreamcli validate failed"
echo "deb: ${#files[@]} files installed, desktop entry and metainfo valid"

# A private X server.
display=""
for n in $(seq 121 150); do
  if [ ! -e "/tmp/.X11-unix/X$n" ] && [ ! -e "/tmp/.X$n-lock" ]; then display=":$n"; break; fi
done
[ -n "$display" ] || fail "no free X display number"
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do xdpyinfo -display "$display" >/dev/null 2>&1 && break; sleep 0.1; done
export DISPLAY="$display"
unset WAYLAND_DISPLAY

# The installed binary's emulator, logging every request.
runflow-uploader emulator --addr 127.0.0.1:0 --api-key rf_deb_test_key --request-log "$WORK/requests.jsonl" \
  >"$WORK/emulator.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/emulator.log" 2>/dev/null && break; sleep 0.1; done
base="$(grep -o 'http://[0-9.:]*' "$WORK/emulator.log" | head -n1)"
[ -n "$base" ] || fail "the emulator did not start"

export RUNFLOW_API_KEY=rf_deb_test_key RUNFLOW_BASE_URL="$base" RUNFLOW_UPLOADER_KEYRING=memory \
  RUNFLOW_UPLOADER_DATA_DIR="$WORK/data" RUNFLOW_UPLOADER_CONFIG_DIR="$WORK/config" \
  RUNFLOW_UPLOADER_CACHE_DIR="$WORK/cache" RUNFLOW_UPLOADER_STATE_DIR="$WORK/state" \
  RUNFLOW_UPLOADER_INSTANCE_DIR="$WORK/run"
printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR first' >"$WORK/first image.png"
printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR second' >"$WORK/second.png"

# The Exec line as a launcher runs it: field codes replaced, %F by the files.
exec_line="$(grep -m1 '^Exec=' "/usr/share/applications/$APP_ID.desktop" | cut -d= -f2-)"
launch() {
  local words=() word
  read -r -a words <<<"$exec_line"
  local argv=()
  for word in "${words[@]}"; do
    if [ "$word" = "%F" ]; then argv+=("$@"); else argv+=("$word"); fi
  done
  "${argv[@]}"
}
confirmations() {
  local n
  n="$(grep -c '"method":"POST","path":"/v1/asset-uploads/[^"]*/confirmations","status":20' \
    "$WORK/requests.jsonl" 2>/dev/null || true)"
  echo "${n:-0}"
}

launch "$WORK/first image.png" >"$WORK/app.log" 2>&1 &
app=$!
pids+=("$app")
window="$(timeout 20 xdotool search --sync --onlyvisible --name '^Runflow Uploader$' 2>/dev/null | head -n1 || true)"
[ -n "$window" ] || fail "no window appeared"
xprop -id "$window" WM_CLASS | grep -q "\"$APP_ID\"" || fail "WM_CLASS is not $APP_ID: $(xprop -id "$window" WM_CLASS)"
# The icon is set once the window is up, which may be a moment after it is mapped.
has_icon() { xprop -id "$window" -len 16 -f _NET_WM_ICON 32c _NET_WM_ICON 2>/dev/null | grep -q "= 256, 256"; }
for _ in $(seq 1 100); do has_icon && break; sleep 0.1; done
has_icon || fail "the window has no 256 px icon: $(xprop -id "$window" -len 16 _NET_WM_ICON 2>&1)"
for _ in $(seq 1 150); do [ "$(confirmations)" -ge 1 ] && break; sleep 0.1; done
[ "$(confirmations)" -ge 1 ] || fail "the file from %F was not uploaded"
echo "deb: window up (WM_CLASS $APP_ID, icon set), %F file uploaded"

# A second launch hands its file to the open window and exits at once.
launch "$WORK/second.png" >"$WORK/second.log" 2>&1 &
second=$!
for _ in $(seq 1 100); do kill -0 "$second" 2>/dev/null || break; sleep 0.1; done
kill -0 "$second" 2>/dev/null && fail "the second launch did not exit"
wait "$second" || fail "the second launch failed"
[ "$(xdotool search --name '^Runflow Uploader$' | wc -l)" -eq 1 ] || fail "a second window opened"
for _ in $(seq 1 150); do [ "$(confirmations)" -ge 2 ] && break; sleep 0.1; done
[ "$(confirmations)" -ge 2 ] || fail "the second launch's file was not uploaded by the first window"
echo "deb: second launch handed its file over"

xdotool windowfocus --sync "$window" key --clearmodifiers ctrl+q
for _ in $(seq 1 100); do kill -0 "$app" 2>/dev/null || break; sleep 0.1; done
kill -0 "$app" 2>/dev/null && fail "the app did not quit on Ctrl+Q"
status=0; wait "$app" || status=$?
[ "$status" -eq 0 ] || fail "the app exited with $status"
grep -qi "panicked" "$WORK/app.log" && fail "the app panicked"
ls "$WORK"/state/logs/runflow-uploader.*.log >/dev/null 2>&1 || fail "no log file in the state dir"
[ ! -e "$WORK/run/$APP_ID.sock" ] || fail "the instance socket was left behind"

dpkg -r "$PKG" >>"$WORK/dpkg.log" 2>&1 || fail "dpkg -r failed"
installed=0
for f in "${files[@]}"; do
  [ ! -e "$f" ] || fail "$f is still there after dpkg -r"
done
echo "deb: removed cleanly; 1 passed, 0 failed"
