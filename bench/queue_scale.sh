#!/usr/bin/env bash
# Benchmark: 10,000, 50,000 and 100,000 small PNGs dropped on the real window (release build,
# offline demo, Xvfb; the folder is pasted as a path with ctrl+v) and given to the CLI (against
# the emulator in its own process). For each size and each of the two it prints the time to the
# first feedback (the scan reported), to the first upload, the total, files per second, the
# window's frame update CPU time (logic and UI pass, median and p95) and the peak RSS. The table
# comes last; the exit status is 1 when a target is missed.
#
#   bench/queue_scale.sh
#   SIZES="10000 50000" bench/queue_scale.sh
#   RUNS=cli SIZES=100000 bench/queue_scale.sh      # only the CLI (or only the window)
#   WRAP="heaptrack -o /var/tmp/window" RUNS=window SIZES=20000 bench/queue_scale.sh
#                                          # the window under a profiler (its numbers then skew)
#
# Milestones come from the app itself (RUNFLOW_UPLOADER_TIMELINE, see src/timeline.rs). Needs
# Xvfb, xdotool, xclip, GNU time and python3. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/runflow-uploader-target}"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/runflow-uploader"
SIZES="${SIZES:-10000 50000 100000}"
RUNS="${RUNS:-window cli}"
for tool in Xvfb xdotool xclip python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "$tool is needed"; exit 2; }
done

WORK="$(mktemp -d /var/tmp/queue-scale.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

export DISPLAY=:95
unset WAYLAND_DISPLAY
Xvfb "$DISPLAY" -screen 0 1440x900x24 -nolisten tcp >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do xdotool getdisplaygeometry >/dev/null 2>&1 && break; sleep 0.1; done

now_ms() { date +%s%3N; }

# Distinct 4x4 PNGs, 1,000 to a folder.
make_files() { # dir count
  python3 - "$1" "$2" <<'EOF'
import os, struct, sys, zlib
out, n = sys.argv[1], int(sys.argv[2])
def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
head = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 4, 4, 8, 2, 0, 0, 0))
for i in range(n):
    folder = os.path.join(out, 'd%03d' % (i // 1000))
    if i % 1000 == 0:
        os.makedirs(folder, exist_ok=True)
    rows = b''.join(b'\0' + b''.join(struct.pack('>I', i * 16 + y * 4 + x)[1:] for x in range(4)) for y in range(4))
    with open(os.path.join(folder, 'img-%06d.png' % i), 'wb') as f:
        f.write(head + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))
EOF
}

# One value from a timeline: `ms SINCE EVENT` (milliseconds after t0) or `field EVENT NAME`.
timeline() { # file kind event [field|t0]
  python3 - "$@" <<'EOF'
import json, sys
path, kind, event, arg = sys.argv[1:5]
for line in open(path):
    rec = json.loads(line)
    if rec["event"] == event:
        print(rec["t_ms"] - int(arg) if kind == "ms" else rec[arg])
        break
else:
    print("nan")
EOF
}

wait_for_event() { # file event timeout_s
  local deadline=$((SECONDS + $3))
  until grep -q "\"event\":\"$2\"" "$1" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "no '$2' within $3 s" >&2; return 1; }
    sleep 0.2
  done
}

home_env() { # dir -> env assignments for a fresh app home
  echo "RUNFLOW_UPLOADER_DATA_DIR=$1/data RUNFLOW_UPLOADER_CONFIG_DIR=$1/config" \
    "RUNFLOW_UPLOADER_STATE_DIR=$1/state RUNFLOW_UPLOADER_CACHE_DIR=$1/cache" \
    "RUNFLOW_UPLOADER_INSTANCE_DIR=$1/instance RUNFLOW_UPLOADER_KEYRING=memory"
}

declare -A R
window_run() { # n folder
  local n="$1" folder="$2" home="$WORK/window-$1" app w t0 hwm
  mkdir -p "$home"
  # shellcheck disable=SC2046
  env $(home_env "$home") RUNFLOW_UPLOADER_TIMELINE="$home/timeline.jsonl" \
    ${WRAP:-} "$BIN" --demo >"$home/app.log" 2>&1 &
  app=$!
  pids+=("$app")
  w=""
  for _ in $(seq 1 200); do
    w="$(xdotool search --name '^Runflow Uploader$' 2>/dev/null | head -n1 || true)"
    [ -n "$w" ] && break
    sleep 0.1
  done
  [ -n "$w" ] || { echo "no window"; cat "$home/app.log"; exit 2; }
  sleep 6 # the demo server starts and the gallery loads
  printf '%s' "$folder" | xclip -selection clipboard
  t0="$(now_ms)"
  xdotool windowfocus --sync "$w" key --clearmodifiers ctrl+v
  wait_for_event "$home/timeline.jsonl" idle 3600
  hwm="$(awk '/VmHWM/ {print $2}' "/proc/$app/status")"
  xdotool windowfocus --sync "$w" key --clearmodifiers ctrl+q || true
  sleep 3
  kill "$app" 2>/dev/null || true
  wait "$app" 2>/dev/null || true
  local t="$home/timeline.jsonl"
  R[w$n.feedback]="$(timeline "$t" ms scan "$t0")"
  R[w$n.first]="$(timeline "$t" ms first_upload "$t0")"
  R[w$n.total]="$(timeline "$t" ms idle "$t0")"
  R[w$n.p50]="$(timeline "$t" field frames median_ms)"
  R[w$n.p95]="$(timeline "$t" field frames p95_ms)"
  R[w$n.rss]="$((hwm / 1024))"
}

cli_run() { # n folder
  local n="$1" folder="$2" home="$WORK/cli-$1" emu base t0 uploaded
  mkdir -p "$home"
  "$BIN" emulator --addr 127.0.0.1:0 --api-key rf_scale >"$home/emu.out" 2>/dev/null &
  emu=$!
  pids+=("$emu")
  for _ in $(seq 1 100); do grep -q "listening on" "$home/emu.out" 2>/dev/null && break; sleep 0.1; done
  base="$(grep -o 'http://[0-9.:]*' "$home/emu.out" | head -n1)"
  t0="$(now_ms)"
  # shellcheck disable=SC2046
  env $(home_env "$home") RUNFLOW_API_KEY=rf_scale RUNFLOW_BASE_URL="$base" \
    RUNFLOW_UPLOADER_TIMELINE="$home/timeline.jsonl" \
    /usr/bin/time -f '%M' -o "$home/rss" "$BIN" upload "$folder" --json >"$home/out.jsonl" 2>"$home/err"
  kill "$emu" 2>/dev/null || true
  wait "$emu" 2>/dev/null || true
  uploaded="$(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1])][-1]["counts"]["uploaded"])' "$home/out.jsonl")"
  [ "$uploaded" = "$n" ] || { echo "the CLI uploaded $uploaded of $n"; tail -3 "$home/err"; exit 2; }
  local t="$home/timeline.jsonl"
  R[c$n.feedback]="$(timeline "$t" ms scan "$t0")"
  R[c$n.first]="$(timeline "$t" ms first_upload "$t0")"
  R[c$n.total]="$(timeline "$t" ms idle "$t0")"
  R[c$n.rss]="$(( $(tail -n1 "$home/rss") / 1024 ))"
}

for n in $SIZES; do
  echo "== $n files"
  make_files "$WORK/files-$n" "$n"
  sync
  if [[ " $RUNS " == *" window "* ]]; then
    window_run "$n" "$WORK/files-$n"
    echo "window: feedback ${R[w$n.feedback]} ms, first upload ${R[w$n.first]} ms, total ${R[w$n.total]} ms, frames p50 ${R[w$n.p50]} ms p95 ${R[w$n.p95]} ms, peak RSS ${R[w$n.rss]} MiB"
  fi
  if [[ " $RUNS " == *" cli "* ]]; then
    cli_run "$n" "$WORK/files-$n"
    echo "cli:    feedback ${R[c$n.feedback]} ms, first upload ${R[c$n.first]} ms, total ${R[c$n.total]} ms, peak RSS ${R[c$n.rss]} MiB"
  fi
  rm -rf "$WORK/files-$n"
done

python3 - "$SIZES" "$RUNS" <<EOF
import sys
sizes = [int(s) for s in sys.argv[1].split()]
runs = [(r, w) for r, w in (("w", "window"), ("c", "CLI")) if w.lower() in sys.argv[2].split()]
r = {$(for k in "${!R[@]}"; do printf "'%s': '%s', " "$k" "${R[$k]}"; done)}
f = lambda k: float(r[k])
missed = []
print()
print("| files | run | feedback | first upload | total | files/s | frame p50 | frame p95 | peak RSS |")
print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for n in sizes:
    for run, who in runs:
        k = lambda m: f"{run}{n}.{m}"
        total = f(k("total")) / 1000
        frames = (f"{f(k('p50')):.1f} ms", f"{f(k('p95')):.1f} ms") if run == "w" else ("-", "-")
        print(f"| {n:,} | {who} | {f(k('feedback')):.0f} ms | {f(k('first')):.0f} ms | {total:.1f} s "
              f"| {n / total:,.0f} | {frames[0]} | {frames[1]} | {f(k('rss')):.0f} MiB |")
        if not f(k("feedback")) < 100: missed.append(f"{who} feedback at {n:,}")
        if not f(k("first")) < 1000: missed.append(f"{who} first upload at {n:,}")
        if run == "w" and not f(k("p95")) < 16: missed.append(f"frame p95 at {n:,}")
if 50000 in sizes and 100000 in sizes:
    for run, who in runs:
        ratio = f(f"{run}100000.total") / f(f"{run}50000.total")
        print(f"{who}: 100,000 took {ratio:.2f}x the time of 50,000 (target <= 2.2x)")
        if not ratio <= 2.2: missed.append(f"{who} linearity")
if 100000 in sizes:
    for run, who, limit in (("w", "window", 300), ("c", "CLI", 100)):
        if (run, who) in runs and not f(f"{run}100000.rss") < limit:
            missed.append(f"{who} RSS at 100,000")
print("targets: feedback < 100 ms, first upload < 1 s, frame p95 < 16 ms, "
      "window RSS < 300 MiB and CLI RSS < 100 MiB at 100,000")
print("MISSED: " + ", ".join(missed) if missed else "all targets met")
sys.exit(1 if missed else 0)
EOF
