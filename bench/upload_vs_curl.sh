#!/usr/bin/env bash
# Benchmark: `runflow-uploader upload` against the guide's three curl commands, in one run,
# against the local emulator. Prints a table of median wall times and the uploader's peak RSS.
#
#   bench/upload_vs_curl.sh            # 3 rounds each
#   ROUNDS=5 bench/upload_vs_curl.sh
#
# Needs: curl, GNU time (/usr/bin/time), a release build (done here).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${ROUNDS:-3}"
KEY="rf_bench_key"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/runflow-uploader"
command -v curl >/dev/null || { echo "curl is needed (apt-get install curl)"; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time is needed (apt-get install time)"; exit 1; }

WORK="$(mktemp -d)"
EMU_PID=""
cleanup() {
  [ -n "$EMU_PID" ] && kill "$EMU_PID" 2>/dev/null && wait "$EMU_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# The emulator, on a free port, with its state in a temporary dir of its own.
"$BIN" emulator --addr 127.0.0.1:0 --api-key "$KEY" \
  >"$WORK/emulator.out" 2>"$WORK/emulator.err" &
EMU_PID=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$WORK/emulator.out" 2>/dev/null && break
  sleep 0.1
done
BASE="$(grep -o 'http://[0-9.:]*' "$WORK/emulator.out" | head -n1)"
[ -n "$BASE" ] || { echo "the emulator did not start:"; cat "$WORK/emulator.err"; exit 1; }

# Test data: one 50 MiB video, 200 small images of 64 KiB, 16 videos of 50 MiB.
mp4_file() { # path size seed
  { printf '\0\0\0\x18ftypmp42\0\0\0\0mp42isom'; head -c "$(( $2 - 24 ))" /dev/urandom; } > "$1"
}
png_file() { # path size
  { printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR'; head -c "$(( $2 - 16 ))" /dev/urandom; } > "$1"
}
mkdir -p "$WORK/one" "$WORK/small" "$WORK/big"
mp4_file "$WORK/one/big.mp4" 52428800
for i in $(seq -w 1 200); do png_file "$WORK/small/img-$i.png" 65536; done
for i in $(seq -w 1 16); do mp4_file "$WORK/big/clip-$i.mp4" 52428800; done
# Let the test data reach the disk first, so its write-back does not slow whatever runs next.
sync

# The guide's three steps with curl, for one file.
curl_upload() { # path mime
  local path="$1" mime="$2" size name session asset_id upload_url
  size=$(stat -c %s "$path"); name=$(basename "$path")
  session=$(curl -sS --fail -X POST "$BASE/v1/asset-uploads" \
    -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
    -d "{\"filename\":\"$name\",\"mime_type\":\"$mime\",\"size_bytes\":$size}")
  asset_id=$(sed -E 's/.*"asset_id":"([^"]+)".*/\1/' <<<"$session")
  upload_url=$(sed -E 's/.*"upload_url":"([^"]+)".*/\1/' <<<"$session")
  curl -sS --fail -X PUT "$upload_url" -H "Content-Type: $mime" --upload-file "$path" -o /dev/null
  curl -sS --fail -X POST "$BASE/v1/asset-uploads/$asset_id/confirmations" \
    -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" -d '{}' -o /dev/null
}
export -f curl_upload
export BASE KEY

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() { # command... -> seconds
  local start end
  start=$(now); "$@" >/dev/null; end=$(now)
  echo "$end - $start" | bc -l
}

uploader() { # dir concurrency -> runs the CLI with a fresh journal
  local data="$WORK/data-$RANDOM$RANDOM"
  RUNFLOW_API_KEY="$KEY" RUNFLOW_BASE_URL="$BASE" RUNFLOW_UPLOADER_DATA_DIR="$data" \
    RUNFLOW_UPLOADER_CONFIG_DIR="$WORK/config" RUNFLOW_UPLOADER_KEYRING=memory \
    "$BIN" upload "$1" --concurrency "$2" --json
}
curl_sequential() { for f in "$1"/*; do curl_upload "$f" "$2"; done; }
curl_parallel() { # dir mime jobs
  printf '%s\n' "$1"/* | xargs -P "$3" -I{} bash -c 'curl_upload "$1" "$2"' _ {} "$2"
}

declare -A results
measure() { # label command...
  local label="$1"; shift
  local samples=()
  for _ in $(seq 1 "$ROUNDS"); do samples+=("$(timed "$@")"); done
  results[$label]=$(printf '%s\n' "${samples[@]}" | median)
  printf '%-40s %8.3f s  (samples: %s)\n' "$label" "${results[$label]}" "${samples[*]}"
}

echo "emulator: $BASE, rounds: $ROUNDS"
measure "50 MiB: curl (3 steps)" curl_upload "$WORK/one/big.mp4" video/mp4
measure "50 MiB: runflow-uploader" uploader "$WORK/one" 1
measure "200 x 64 KiB: curl sequential" curl_sequential "$WORK/small" image/png
measure "200 x 64 KiB: curl 8 parallel" curl_parallel "$WORK/small" image/png 8
measure "200 x 64 KiB: runflow-uploader (c=8)" uploader "$WORK/small" 8
measure "200 x 64 KiB: runflow-uploader (c=16)" uploader "$WORK/small" 16

data="$WORK/data-rss"
/usr/bin/time -f '%M' -o "$WORK/rss" env RUNFLOW_API_KEY="$KEY" RUNFLOW_BASE_URL="$BASE" \
  RUNFLOW_UPLOADER_DATA_DIR="$data" RUNFLOW_UPLOADER_CONFIG_DIR="$WORK/config" \
  RUNFLOW_UPLOADER_KEYRING=memory "$BIN" upload "$WORK/big" --concurrency 8 --json >/dev/null
rss_kib=$(tail -n1 "$WORK/rss")

echo
echo "== summary"
ratio() { echo "$1 / $2" | bc -l; }
printf '50 MiB: uploader / curl time          = %.3f  (target <= 1.05)\n' \
  "$(ratio "${results["50 MiB: runflow-uploader"]}" "${results["50 MiB: curl (3 steps)"]}")"
printf '200 small: curl sequential / uploader = %.1fx (target >= 8x)\n' \
  "$(ratio "${results["200 x 64 KiB: curl sequential"]}" "${results["200 x 64 KiB: runflow-uploader (c=8)"]}")"
printf '200 small: curl 8-parallel / uploader = %.2fx (target > 1x)\n' \
  "$(ratio "${results["200 x 64 KiB: curl 8 parallel"]}" "${results["200 x 64 KiB: runflow-uploader (c=8)"]}")"
printf 'peak RSS, 16 x 50 MiB at concurrency 8 = %.1f MiB (target < 64 MiB)\n' \
  "$(echo "$rss_kib / 1024" | bc -l)"
