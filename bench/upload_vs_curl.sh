#!/usr/bin/env bash
# Benchmark: `runflow-uploader upload` against the guide's three curl commands (create, PUT,
# confirm) and against one bare curl PUT, in one run, against the local emulator. Prints the
# median wall time of every case and the uploader's peak RSS.
#
#   bench/upload_vs_curl.sh            # 3 rounds each
#   ROUNDS=5 bench/upload_vs_curl.sh
#   CARGO_TARGET_DIR=/some/warm/target bench/upload_vs_curl.sh   # an existing one is honoured
#   RUNFLOW_UPLOADER_BIN=/path/to/runflow-uploader bench/upload_vs_curl.sh   # no build
#
# Needs: curl, GNU time (/usr/bin/time), ImageMagick (`convert`), awk, a release build (done here
# unless RUNFLOW_UPLOADER_BIN is given).
#
# What keeps the comparison fair:
# - The curl side forks nothing but the curls: the JSON answers go to a file and are read and
#   matched with bash builtins (`read`, `[[ =~ ]]`), sizes are taken once before any timing,
#   names come from `${path##*/}`. The 8-parallel case forks 8 worker subshells per run (not
#   one per file), each sending every 8th file.
# - Every uploader run gets its own empty data (journal, index), config, state and cache dirs,
#   so nothing is known from an earlier run.
# - The images are real PNGs, so the emulator decodes each one for its thumbnail on confirm
#   and the uploader's content check passes on merit. The 50 MiB file is an MP4 header plus
#   random bytes (video is not decoded by the emulator; the uploader takes its type from the
#   header).
# - The bare PUT sends the same 50 MiB to a fresh upload URL whose session was created before
#   the clock starts (and is confirmed after it stops): no three-step upload can beat it.
# - The cases are interleaved round by round, `sync` runs before every sample (outside the
#   clock), and the clock is bash's $EPOCHREALTIME, so timing forks nothing either.
# - Every sample is checked: curl's confirmation must name the asset, a bare PUT's session must
#   confirm, and each uploader run's --json summary must count every file as `uploaded` with
#   exit code 0. Anything else stops the run with an error.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

ROUNDS="${ROUNDS:-3}"
KEY="rf_bench_key"
if [ -n "${RUNFLOW_UPLOADER_BIN:-}" ]; then
  BUILT="$RUNFLOW_UPLOADER_BIN"
else
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
  cargo build --release --quiet
  BUILT="$CARGO_TARGET_DIR/release/runflow-uploader"
fi
[ -x "$BUILT" ] || { echo "no runflow-uploader binary at $BUILT"; exit 1; }
command -v curl >/dev/null || { echo "curl is needed (apt-get install curl)"; exit 1; }
command -v convert >/dev/null || { echo "ImageMagick is needed (apt-get install imagemagick)"; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time is needed (apt-get install time)"; exit 1; }

die() { echo "bench: $*" >&2; exit 1; }

WORK="$(mktemp -d)"
EMU_PID=""
cleanup() {
  if [ -n "$EMU_PID" ]; then kill "$EMU_PID" 2>/dev/null || true; wait "$EMU_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
# Run a private copy, so a build finishing meanwhile cannot swap the binary between samples.
BIN="$WORK/runflow-uploader"
cp "$BUILT" "$BIN"

# The emulator, on a free port, with its state in a temporary dir of its own (thumbnails on, the
# default).
"$BIN" emulator --addr 127.0.0.1:0 --api-key "$KEY" \
  >"$WORK/emulator.out" 2>"$WORK/emulator.err" &
EMU_PID=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$WORK/emulator.out" 2>/dev/null && break
  sleep 0.1
done
BASE="$(grep -o 'http://[0-9.:]*' "$WORK/emulator.out" | head -n1)"
[ -n "$BASE" ] || { echo "the emulator did not start:"; cat "$WORK/emulator.err"; exit 1; }

# Test data: one 50 MiB video, 200 small real PNGs (150x150 RGB noise, about 66 KiB each, all
# different), 16 videos of 50 MiB.
mp4_file() { # path size
  { printf '\0\0\0\x18ftypmp42\0\0\0\0mp42isom'; head -c "$(( $2 - 24 ))" /dev/urandom; } > "$1"
}
mkdir -p "$WORK/one" "$WORK/small" "$WORK/big"
mp4_file "$WORK/one/big.mp4" 52428800
convert -size 150x150 xc: -duplicate 199 +noise Random -depth 8 -define png:color-type=2 \
  "$WORK/small/img-%03d.png"
for i in $(seq -w 1 16); do mp4_file "$WORK/big/clip-$i.mp4" 52428800; done
BIG="$WORK/one/big.mp4"
SMALL=("$WORK"/small/*.png)
[ "${#SMALL[@]}" -eq 200 ] || die "expected 200 PNGs, made ${#SMALL[@]}"
# Sizes, once, before any timing.
declare -A SIZE=()
while read -r size path; do SIZE[$path]=$size; done \
  < <(stat -c '%s %n' "$BIG" "${SMALL[@]}")
small_bytes=0
for f in "${SMALL[@]}"; do small_bytes=$((small_bytes + SIZE[$f])); done
small_kib=$(awk -v b="$small_bytes" 'BEGIN {printf "%.1f", b / 200 / 1024}')
# Let the test data reach the disk first, so its write-back does not slow whatever runs next.
sync

# The guide's three steps with curl, for one file; the answers go through the file `$3`.
curl_upload() { # path mime answer-file
  local path="$1" mime="$2" answer="$3" session reply asset_id upload_url
  local name="${path##*/}" size="${SIZE[$1]}"
  curl -sS --fail -o "$answer" -X POST "$BASE/v1/asset-uploads" \
    -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
    -d "{\"filename\":\"$name\",\"mime_type\":\"$mime\",\"size_bytes\":$size}"
  read -r -d '' session <"$answer" || true
  [[ $session =~ \"asset_id\":\"([^\"]+)\" ]] || die "create for $name answered: $session"
  asset_id="${BASH_REMATCH[1]}"
  [[ $session =~ \"upload_url\":\"([^\"]+)\" ]] || die "create for $name answered: $session"
  upload_url="${BASH_REMATCH[1]}"
  curl -sS --fail -X PUT "$upload_url" -H "Content-Type: $mime" --upload-file "$path" -o /dev/null
  curl -sS --fail -o "$answer" -X POST "$BASE/v1/asset-uploads/$asset_id/confirmations" \
    -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" -d '{}'
  read -r -d '' reply <"$answer" || true
  [[ $reply == *"\"id\":\"$asset_id\""* ]] || die "confirm of $name answered: $reply"
}
curl_sequential() {
  local f
  for f in "${SMALL[@]}"; do curl_upload "$f" image/png "$WORK/answer"; done
}
curl_parallel() { # jobs: that many workers, worker w sends files w, w+jobs, w+2*jobs, ...
  local jobs="$1" w i pid pids=()
  for ((w = 0; w < jobs; w++)); do
    (
      for ((i = w; i < ${#SMALL[@]}; i += jobs)); do
        curl_upload "${SMALL[i]}" image/png "$WORK/answer-$w"
      done
    ) &
    pids+=("$!")
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
}

# The bare PUT: a session made (and afterwards confirmed) outside the clock.
PUT_URL="" PUT_ASSET=""
new_session() {
  local session
  curl -sS --fail -o "$WORK/answer" -X POST "$BASE/v1/asset-uploads" \
    -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
    -d "{\"filename\":\"bare.mp4\",\"mime_type\":\"video/mp4\",\"size_bytes\":${SIZE[$BIG]}}"
  read -r -d '' session <"$WORK/answer" || true
  [[ $session =~ \"asset_id\":\"([^\"]+)\" ]] || die "create answered: $session"
  PUT_ASSET="${BASH_REMATCH[1]}"
  [[ $session =~ \"upload_url\":\"([^\"]+)\" ]] || die "create answered: $session"
  PUT_URL="${BASH_REMATCH[1]}"
}
bare_put() {
  curl -sS --fail -X PUT "$PUT_URL" -H "Content-Type: video/mp4" --upload-file "$BIG" -o /dev/null
}
confirm_session() {
  local reply
  curl -sS --fail -o "$WORK/answer" -X POST "$BASE/v1/asset-uploads/$PUT_ASSET/confirmations" \
    -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" -d '{}'
  read -r -d '' reply <"$WORK/answer" || true
  [[ $reply == *"\"size_bytes\":${SIZE[$BIG]},"* ]] || die "confirm after the bare PUT answered: $reply"
}

# The uploader, in a home of its own made by `fresh_home` (outside the clock).
RUNS=0 HOME_DIR="" UP_STATUS=0
fresh_home() {
  RUNS=$((RUNS + 1))
  HOME_DIR="$WORK/uploader-$RUNS"
  mkdir -p "$HOME_DIR/data" "$HOME_DIR/config" "$HOME_DIR/state" "$HOME_DIR/cache"
}
uploader() { # dir concurrency; the JSON lines go to $HOME_DIR/out.jsonl
  UP_STATUS=0
  RUNFLOW_API_KEY="$KEY" RUNFLOW_BASE_URL="$BASE" RUNFLOW_UPLOADER_KEYRING=memory \
    RUNFLOW_UPLOADER_DATA_DIR="$HOME_DIR/data" RUNFLOW_UPLOADER_CONFIG_DIR="$HOME_DIR/config" \
    RUNFLOW_UPLOADER_STATE_DIR="$HOME_DIR/state" RUNFLOW_UPLOADER_CACHE_DIR="$HOME_DIR/cache" \
    "$BIN" upload "$1" --concurrency "$2" --json \
    >"$HOME_DIR/out.jsonl" 2>"$HOME_DIR/err.txt" || UP_STATUS=$?
}
check_uploader() { # expected-files: the run's summary must count them all as uploaded
  local want="$1" line summary=""
  while IFS= read -r line; do
    [[ $line == *'"type":"summary"'* ]] && summary="$line"
  done <"$HOME_DIR/out.jsonl"
  if [ "$UP_STATUS" -ne 0 ] || [[ ! $summary =~ \"files\":$want, ]] \
    || [[ ! $summary =~ \"uploaded\":$want, ]] || [[ ! $summary =~ \"exit_code\":0[,}] ]]; then
    echo "bench: runflow-uploader (exit $UP_STATUS) did not upload all $want files:" >&2
    grep -v '"status":"uploaded"' "$HOME_DIR/out.jsonl" | head -n 20 >&2 || true
    tail -n 20 "$HOME_DIR/err.txt" >&2
    exit 1
  fi
}

# Samples, in microseconds, by case.
CASES=(
  "50 MiB: curl (3 steps)"
  "50 MiB: curl, bare PUT only"
  "50 MiB: runflow-uploader"
  "200 PNGs: curl sequential"
  "200 PNGs: curl 8 parallel"
  "200 PNGs: runflow-uploader (c=8)"
  "200 PNGs: runflow-uploader (c=16)"
)
declare -A SAMPLES=()
sample() { # case command...
  local label="$1" start end
  shift
  sync
  start="${EPOCHREALTIME/[.,]/}"
  "$@" >/dev/null
  end="${EPOCHREALTIME/[.,]/}"
  SAMPLES[$label]+="$((end - start)) "
}

# Other work on the machine skews every number: the 1-minute load average, before and after.
load() { local avg=unknown; [ -r /proc/loadavg ] && read -r avg _ </proc/loadavg; echo "$avg"; }
echo "emulator: $BASE, rounds: $ROUNDS, small PNGs: 200 x $small_kib KiB on average, load: $(load)"
for ((round = 1; round <= ROUNDS; round++)); do
  sample "${CASES[0]}" curl_upload "$BIG" video/mp4 "$WORK/answer"
  new_session
  sample "${CASES[1]}" bare_put
  confirm_session
  fresh_home; sample "${CASES[2]}" uploader "$WORK/one" 1; check_uploader 1
  sample "${CASES[3]}" curl_sequential
  sample "${CASES[4]}" curl_parallel 8
  fresh_home; sample "${CASES[5]}" uploader "$WORK/small" 8; check_uploader 200
  fresh_home; sample "${CASES[6]}" uploader "$WORK/small" 16; check_uploader 200
  echo "round $round of $ROUNDS done"
done

# Median (the middle sample; for an even count the lower middle one), in seconds.
declare -A MEDIAN=()
for label in "${CASES[@]}"; do
  read -r -a us <<<"${SAMPLES[$label]}"
  MEDIAN[$label]=$(printf '%s\n' "${us[@]}" | sort -n | awk '{a[NR] = $1} END {printf "%.4f", a[int((NR + 1) / 2)] / 1e6}')
  printf '%-36s %8.3f s  (samples: %s)\n' "$label" "${MEDIAN[$label]}" \
    "$(printf '%s\n' "${us[@]}" | awk '{printf "%s%.3f", (NR > 1 ? " " : ""), $1 / 1e6}')"
done

# Peak RSS uploading 16 x 50 MiB at concurrency 8 (also checked for all 16 uploaded).
fresh_home
UP_STATUS=0
RUNFLOW_API_KEY="$KEY" RUNFLOW_BASE_URL="$BASE" RUNFLOW_UPLOADER_KEYRING=memory \
  RUNFLOW_UPLOADER_DATA_DIR="$HOME_DIR/data" RUNFLOW_UPLOADER_CONFIG_DIR="$HOME_DIR/config" \
  RUNFLOW_UPLOADER_STATE_DIR="$HOME_DIR/state" RUNFLOW_UPLOADER_CACHE_DIR="$HOME_DIR/cache" \
  /usr/bin/time -f '%M' -o "$WORK/rss" "$BIN" upload "$WORK/big" --concurrency 8 --json \
  >"$HOME_DIR/out.jsonl" 2>"$HOME_DIR/err.txt" || UP_STATUS=$?
check_uploader 16
rss_kib=$(tail -n1 "$WORK/rss")

echo
echo "== summary (medians of $ROUNDS rounds; load average now $(load))"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
printf '50 MiB: uploader / curl 3 steps        = %.2fx (target <= 1.05x)\n' \
  "$(ratio "${MEDIAN["50 MiB: runflow-uploader"]}" "${MEDIAN["50 MiB: curl (3 steps)"]}")"
printf '50 MiB: uploader / curl bare PUT       = %.2fx (the floor: no three-step upload reaches 1.00x)\n' \
  "$(ratio "${MEDIAN["50 MiB: runflow-uploader"]}" "${MEDIAN["50 MiB: curl, bare PUT only"]}")"
printf '200 PNGs: curl sequential / uploader   = %.1fx (target >= 8x)\n' \
  "$(ratio "${MEDIAN["200 PNGs: curl sequential"]}" "${MEDIAN["200 PNGs: runflow-uploader (c=8)"]}")"
printf '200 PNGs: curl 8 parallel / uploader   = %.2fx (target > 1x)\n' \
  "$(ratio "${MEDIAN["200 PNGs: curl 8 parallel"]}" "${MEDIAN["200 PNGs: runflow-uploader (c=8)"]}")"
printf 'peak RSS, 16 x 50 MiB at concurrency 8 = %.1f MiB (target < 64 MiB)\n' \
  "$(awk -v k="$rss_kib" 'BEGIN {print k / 1024}')"
