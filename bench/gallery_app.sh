#!/usr/bin/env bash
# Benchmark: the real window's gallery scrolled through 10,000 assets (release build, Xvfb with
# Mesa's software GL, the emulator in its own process over loopback). 1,000 of the assets are
# distinct camera-sized originals: JPEG photos of 12-24 MP (3-6.5 MB, smooth colour fields with
# sensor-like grain) and PNG screenshots of 2-4 MP (0.7-1.4 MB: text-like rows and a photo in a
# window); the others are distinct 0.5 MP JPEGs. The photos are uploaded last, after the
# screenshots, so the gallery (newest first) opens on them: the first screen and the first 700
# cards are 12-24 MP photos, the worst case. The window scrolls one screen at a time, each once
# its tiles all show (RUNFLOW_UPLOADER_BENCH_GALLERY, see src/timeline.rs), to the end, and
# closes.
#
# Four runs: the emulator's `--thumbnails images` (server thumbnails) and `--thumbnails none`
# (every tile made from its original), each from a cold disk cache, then warm (the same cache
# again, as the next start after the first). Each prints the time from the first cards on screen
# until their tiles all show, the update CPU time of every frame of the run (logic and UI pass,
# not painting; median, p95, max), the peak RSS and the bytes downloaded from storage (the
# emulator's request log). The table comes last; the exit status is 1 when a target is missed.
#
#   bench/gallery_app.sh
#   ASSETS=2000 ORIGINALS=200 bench/gallery_app.sh     # a smaller gallery
#   RUNS="none-cold" bench/gallery_app.sh                # only some of the four runs
#   APP_ENV="MALLOC_ARENA_MAX=2" bench/gallery_app.sh    # more environment for the window
#   WRAP="heaptrack -o /var/tmp/gallery" RUNS=images-cold bench/gallery_app.sh
#                                          # the window under a profiler (its numbers then skew)
#
# The corpus and the seeded emulator are kept in $CORPUS (default
# /var/tmp/runflow-gallery-corpus) for the next run: the first run makes them (about 10 minutes
# on 2 cores, about 5 GB). Needs Xvfb, xdotool, GNU time, python3 with Pillow and NumPy
# (`pip install pillow numpy`). Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/runflow-uploader-target}"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/runflow-uploader"
ASSETS="${ASSETS:-10000}"
ORIGINALS="${ORIGINALS:-1000}"
CORPUS="${CORPUS:-/var/tmp/runflow-gallery-corpus}/$ASSETS-$ORIGINALS-v3"
for tool in Xvfb xdotool python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "$tool is needed"; exit 2; }
done
python3 -c 'import PIL, numpy' 2>/dev/null || { echo "python3 needs Pillow and NumPy: pip install pillow numpy"; exit 2; }

WORK="$(mktemp -d /var/tmp/gallery-app.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

export DISPLAY=:94
unset WAYLAND_DISPLAY
Xvfb "$DISPLAY" -screen 0 1440x900x24 -nolisten tcp >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do xdotool getdisplaygeometry >/dev/null 2>&1 && break; sleep 0.1; done

KEY=rf_gallery_bench
PORT=47871
STORAGE_PORT=47872

# The files, each distinct: `ORIGINALS` large ones in dir/photos and dir/screens, the rest in
# dir/small.
make_corpus() { # dir assets originals
  python3 - "$@" <<'EOF'
import os, sys
from multiprocessing import Pool
import numpy as np
from PIL import Image

out, assets, originals = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(7)
# Sensor-like grain, tiled with a different offset per image (cheap for 24 MP).
GRAIN = rng.normal(0, 7, (1024, 1024, 3)).astype(np.int16)
PHOTO_SIZES = [(4000, 3000), (4000, 3000), (5184, 3456), (6000, 4000)]  # 12, 12, 18, 24 MP
SCREEN_SIZES = [(1920, 1080), (2560, 1440), (2560, 1600)]                # 2, 3.7, 4 MP

def grain(w, h, seed):
    dy, dx = seed * 37 % 1024, seed * 91 % 1024
    tiled = np.tile(np.roll(GRAIN, (dy, dx), (0, 1)), (h // 1024 + 1, w // 1024 + 1, 1))
    return tiled[:h, :w]

def scene(w, h, seed):
    r = np.random.default_rng(seed)
    small = Image.fromarray(r.integers(0, 256, (6, 8, 3), dtype=np.uint8))
    return np.asarray(small.resize((w, h), Image.BICUBIC), dtype=np.int16)

def photo(path, w, h, seed):
    pixels = np.clip(scene(w, h, seed) + grain(w, h, seed), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, "JPEG", quality=92)

def screenshot(path, w, h, seed):
    # A desktop capture: a sidebar, a title bar, rows of text-like marks (dark strokes of a
    # few pixels, in words and lines, as type renders) and a photo pasted in a window, so the
    # PNG weighs what real 2-4 MP screenshots do (1-3 MB), not what flat colours compress to.
    r = np.random.default_rng(seed)
    pixels = np.full((h, w, 3), 246, np.uint8)
    pixels[:, : w // 6] = r.integers(30, 60, 3)
    pixels[: h // 14] = r.integers(200, 230, 3)
    glyphs = r.integers(0, 2, (h, w), dtype=np.uint8).astype(bool)
    for y in range(h // 14 + 20, h - 20, 22):
        x = w // 6 + 24
        while x < w - 40:
            word = int(r.integers(20, 90))
            block = glyphs[y : y + 11, x : x + word]
            pixels[y : y + 11, x : x + word][block] = 40
            x += word + 8
    pw, ph = w // 3, h // 3
    px, py = w // 2, h // 3
    pixels[py : py + ph, px : px + pw] = np.clip(scene(pw, ph, seed) + grain(pw, ph, seed), 0, 255)
    Image.fromarray(pixels).save(path, "PNG")

def small(path, seed):
    pixels = np.clip(scene(800, 600, seed) + grain(800, 600, seed), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, "JPEG", quality=85)

def make(i):
    # The large ones: photos in dir/photos, screenshots in dir/screens; the rest in dir/small.
    large = i < originals
    part = ("screens" if i % 10 >= 7 else "photos") if large else "small"
    folder = os.path.join(out, part, "d%02d" % (i // 1000))
    os.makedirs(folder, exist_ok=True)
    if part == "photos":
        w, h = PHOTO_SIZES[i % len(PHOTO_SIZES)]
        photo(os.path.join(folder, "photo-%05d.jpg" % i), w, h, i)
    elif part == "screens":
        w, h = SCREEN_SIZES[i % len(SCREEN_SIZES)]
        screenshot(os.path.join(folder, "screen-%05d.png" % i), w, h, i)
    else:
        small(os.path.join(folder, "small-%05d.jpg" % i), i)

with Pool(os.cpu_count()) as pool:
    pool.map(make, range(assets), chunksize=16)
EOF
}

start_emulator() { # thumbnails request_log
  "$BIN" emulator --addr "127.0.0.1:$PORT" --storage-addr "127.0.0.1:$STORAGE_PORT" \
    --api-key "$KEY" --data-dir "$CORPUS/emulator" --thumbnails "$1" \
    ${2:+--request-log "$2"} >"$WORK/emu.out" 2>"$WORK/emu.err" &
  EMU=$!
  pids+=("$EMU")
  for _ in $(seq 1 300); do grep -q "listening on" "$WORK/emu.out" 2>/dev/null && return; sleep 0.1; done
  echo "the emulator did not start"; cat "$WORK/emu.err"; exit 2
}

stop_emulator() {
  kill "$EMU" 2>/dev/null || true
  wait "$EMU" 2>/dev/null || true
}

home_env() { # dir cache -> env assignments for an app home
  echo "RUNFLOW_UPLOADER_DATA_DIR=$1/data RUNFLOW_UPLOADER_CONFIG_DIR=$1/config" \
    "RUNFLOW_UPLOADER_STATE_DIR=$1/state RUNFLOW_UPLOADER_CACHE_DIR=$2" \
    "RUNFLOW_UPLOADER_INSTANCE_DIR=$1/instance RUNFLOW_UPLOADER_KEYRING=memory" \
    "RUNFLOW_API_KEY=$KEY RUNFLOW_BASE_URL=http://127.0.0.1:$PORT"
}

if [ ! -e "$CORPUS/seeded" ]; then
  echo "== making $ASSETS files ($ORIGINALS large) in $CORPUS"
  rm -rf "$CORPUS"
  mkdir -p "$CORPUS/files"
  make_corpus "$CORPUS/files" "$ASSETS" "$ORIGINALS"
  du -sh "$CORPUS/files"
  echo "== uploading them to the emulator with the CLI: small, then screenshots, then photos"
  start_emulator images ""
  uploaded=0
  for part in small screens photos; do
    # shellcheck disable=SC2046
    env $(home_env "$WORK/seed" "$WORK/seed/cache") "$BIN" upload "$CORPUS/files/$part" --json \
      >"$WORK/seed-$part.jsonl" 2>"$WORK/seed-$part.err"
    uploaded=$((uploaded + $(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1])][-1]["counts"]["uploaded"])' "$WORK/seed-$part.jsonl")))
  done
  stop_emulator
  [ "$uploaded" = "$ASSETS" ] || { echo "the CLI uploaded $uploaded of $ASSETS"; tail -3 "$WORK"/seed-*.err; exit 2; }
  # The emulator holds its own copy of every byte: the source files can go.
  rm -rf "$CORPUS/files"
  touch "$CORPUS/seeded"
fi
du -sh "$CORPUS/emulator"

declare -A R
gallery_run() { # thumbnails cold|warm
  local name="$1-$2" home="$WORK/$1-$2" cache="$WORK/cache-$1" log t0
  mkdir -p "$home"
  [ "$2" = cold ] && rm -rf "$cache"
  log="$home/requests.jsonl"
  start_emulator "$1" "$log"
  sync
  t0="$(date +%s%3N)"
  # shellcheck disable=SC2046
  env $(home_env "$home" "$cache") RUNFLOW_UPLOADER_TIMELINE="$home/timeline.jsonl" \
    RUNFLOW_UPLOADER_BENCH_GALLERY=1 ${APP_ENV:-} \
    /usr/bin/time -f '%M' -o "$home/rss" timeout 1800 ${WRAP:-} "$BIN" >"$home/app.log" 2>&1 ||
    { echo "the window did not finish its scroll"; tail -5 "$home/app.log"; exit 2; }
  stop_emulator
  python3 - "$home" "$t0" "$name" >"$home/result" <<'EOF'
import json, sys
home, t0, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = {}
for line in open(f"{home}/timeline.jsonl"):
    rec = json.loads(line)
    lines[rec["event"]] = rec
if "gallery_done" not in lines:
    sys.exit(f"{name}: the scroll did not end")
first, done = lines["gallery_first_screen"], lines["gallery_done"]
downloaded = sum(
    r.get("bytes") or 0
    for r in map(json.loads, open(f"{home}/requests.jsonl"))
    if r["listener"] == "storage" and r["method"] == "GET" and r["status"] == 200
)
rss = int(open(f"{home}/rss").read().split()[-1]) // 1024
print(json.dumps({
    "first_ms": first["ms"], "launch_ms": first["t_ms"] - t0, "cards": first["cards"],
    "screens": done["screens"]["count"], "screen_p50": done["screens"]["median_ms"],
    "timed_out": done["timed_out"], "failed": done["failed"],
    "p50": done["frames"]["median_ms"], "p95": done["frames"]["p95_ms"],
    "max": done["frames"]["max_ms"], "rss": rss, "mib": downloaded / 2**20,
}))
EOF
  R[$name]="$(cat "$home/result")"
  echo "$name: ${R[$name]}"
}

RUNS="${RUNS:-images-cold images-warm none-cold none-warm}"
for run in $RUNS; do
  gallery_run "${run%-*}" "${run#*-}"
done

python3 - "$ASSETS" "$ORIGINALS" <<EOF
import json, sys
assets, originals = int(sys.argv[1]), int(sys.argv[2])
r = {$(for k in "${!R[@]}"; do printf "'%s': json.loads('%s'), " "$k" "${R[$k]}"; done)}
targets = {"images-cold": 700, "none-cold": 1000, "images-warm": 300, "none-warm": 300}
missed = []
print()
print(f"{assets:,} assets ({originals:,} large originals), one screen at a time to the end:")
print()
print("| thumbnails | cache | first screen | launch to first screen | screens (median) "
      "| frame p50 | frame p95 | frame max | peak RSS | downloaded |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for name in [n for n in ["images-cold", "images-warm", "none-cold", "none-warm"] if n in r]:
    x = r[name]
    mode, cache = name.split("-")
    label = "server" if mode == "images" else "originals only"
    print(f"| {label} | {cache} | {x['first_ms']:.0f} ms | {x['launch_ms']:.0f} ms "
          f"| {x['screens']} ({x['screen_p50']:.0f} ms) | {x['p50']:.1f} ms | {x['p95']:.1f} ms "
          f"| {x['max']:.0f} ms | {x['rss']} MiB | {x['mib']:,.0f} MiB |")
    if not x["first_ms"] <= targets[name]:
        missed.append(f"first screen {name} ({targets[name]} ms)")
    if not x["p95"] < 8:
        missed.append(f"frame p95 {name}")
    if not x["rss"] < 250:
        missed.append(f"RSS {name}")
    if x["timed_out"] or x["failed"]:
        missed.append(f"{name}: {x['timed_out']} screens timed out, {x['failed']} tiles failed")
print()
print("targets: first screen <= 0.7 s with server thumbnails, <= 1.0 s from originals (cold), "
      "<= 0.3 s warm; frame p95 < 8 ms; peak RSS < 250 MiB; every tile shows")
print("MISSED: " + ", ".join(missed) if missed else "all targets met")
sys.exit(1 if missed else 0)
EOF
