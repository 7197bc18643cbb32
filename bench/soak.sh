#!/usr/bin/env bash
# Soak: exactly-once uploading under every emulator fault at once, with the uploader killed
# (`kill -9`) every few seconds and restarted until one run exits 0. Then counts the assets on
# the emulator and prints one summary line. Exits non-zero on any duplicate or missing file, or
# when the restart/time cap is reached first.
#
#   bench/soak.sh                        # 1000 files, a kill every 20 s
#   SOAK_FILES=200 SOAK_KILL_SECS=3 bench/soak.sh
#
# Environment: SOAK_FILES (1000), SOAK_KILL_SECS (20: each restart re-checks every file already uploaded, one GET each, at about 120 files/s under these faults, so a run needs about 9 s for 1000 files before it gets to new ones), SOAK_SEED (20261201),
# SOAK_MAX_RESTARTS (300), SOAK_MAX_SECS (1800), SOAK_CONCURRENCY (the CLI's default when unset),
# SOAK_VARIANTS (the emulator's answer-variant flags; default: every non-default variant below),
# SOAK_KEEP=1 keeps the work dir (logs, journals) for a post-mortem,
# CARGO_TARGET_DIR (/var/tmp/runflow-uploader-target).
# Needs: cargo, curl, jq, awk. All traffic goes to 127.0.0.1; nothing outside the work dir is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

FILES="${SOAK_FILES:-1000}"
KILL_SECS="${SOAK_KILL_SECS:-20}"
SEED="${SOAK_SEED:-20261201}"
MAX_RESTARTS="${SOAK_MAX_RESTARTS:-300}"
MAX_SECS="${SOAK_MAX_SECS:-1800}"
VARIANTS="${SOAK_VARIANTS:---repeat-confirm not-found --drop-confirm-response-rate 0.1 --types-endpoint missing --error-envelope nested --pagination next-pq --created-status 200}"
read -r -a variant_args <<<"$VARIANTS"
KEY="rf_soak_key"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/runflow-uploader-target}"
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install $tool)" >&2; exit 2; }
done
cargo build --release --quiet --bin runflow-uploader
BIN="$CARGO_TARGET_DIR/release/runflow-uploader"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/runflow-soak.XXXXXX")"
EMU_PID=""
UP_PID=""
# Every step may fail (the process may be gone) without stopping the rest under `set -e`.
cleanup() {
  if [ -n "$UP_PID" ]; then kill -9 "$UP_PID" 2>/dev/null || true; wait "$UP_PID" 2>/dev/null || true; fi
  if [ -n "$EMU_PID" ]; then kill "$EMU_PID" 2>/dev/null || true; wait "$EMU_PID" 2>/dev/null || true; fi
  if [ "${SOAK_KEEP:-0}" = 1 ]; then echo "work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Keep everything off the network and away from the user's own data.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy RUST_LOG
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

# The emulator, every fault at once, seeded; state in the work dir.
"$BIN" emulator --addr 127.0.0.1:0 --api-key "$KEY" --data-dir "$WORK/emulator" \
  --seed "$SEED" --fail-rate 0.1 --drop-put-rate 0.05 --stall-put-rate 0.01 \
  --latency-ms 20 --rate-limit 200 "${variant_args[@]}" \
  >"$WORK/emulator.out" 2>"$WORK/emulator.err" &
EMU_PID=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$WORK/emulator.out" 2>/dev/null && break
  kill -0 "$EMU_PID" 2>/dev/null || break
  sleep 0.1
done
BASE="$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$WORK/emulator.out" | grep -o 'http://.*' || true)"
[ -n "$BASE" ] || { echo "the emulator did not start:" >&2; cat "$WORK/emulator.err" >&2; exit 2; }
echo "soak: $FILES files, emulator $BASE, variants: $VARIANTS" >&2

# Distinct small PNGs: the PNG signature and IHDR tag, then bytes unique to each file.
mkdir -p "$WORK/files"
for i in $(seq -f '%05g' 1 "$FILES"); do
  { printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR'; printf 'soak file %s ' "$i"; head -c 512 /dev/urandom; } \
    >"$WORK/files/img-$i.png"
done

# The uploader with an isolated home: its journal, settings and keyring live in the work dir.
mkdir -p "$WORK/home"
uploader_env=(HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config"
  XDG_DATA_HOME="$WORK/home/.local/share" XDG_CACHE_HOME="$WORK/home/.cache"
  XDG_STATE_HOME="$WORK/home/.local/state" RUNFLOW_API_KEY="$KEY" RUNFLOW_BASE_URL="$BASE"
  RUNFLOW_UPLOADER_DATA_DIR="$WORK/home/data" RUNFLOW_UPLOADER_CONFIG_DIR="$WORK/home/config"
  RUNFLOW_UPLOADER_KEYRING=memory)
upload_args=(upload "$WORK/files" --json)
[ -n "${SOAK_CONCURRENCY:-}" ] && upload_args+=(--concurrency "$SOAK_CONCURRENCY")

now_ms() { echo $(($(date +%s%N) / 1000000)); }
kill_ms=$(awk -v s="$KILL_SECS" 'BEGIN { printf "%d", s * 1000 }')
started=$(now_ms)
restarts=0
runs=0
rc=""
outcome="failed"
while :; do
  [ -d "$WORK/files" ] || { echo "the work dir $WORK vanished" >&2; exit 2; }
  runs=$((runs + 1))
  # `env` execs the uploader, so $! is the uploader itself and `kill -9` reaches it (a shell
  # function here would leave it running, orphaned, next to the next run).
  env "${uploader_env[@]}" "$BIN" "${upload_args[@]}" \
    >"$WORK/run-$runs.jsonl" 2>"$WORK/run-$runs.err" </dev/null &
  UP_PID=$!
  run_started=$(now_ms)
  while kill -0 "$UP_PID" 2>/dev/null && [ $(($(now_ms) - run_started)) -lt "$kill_ms" ]; do
    sleep 0.1
  done
  kill -9 "$UP_PID" 2>/dev/null || true
  rc=0
  wait "$UP_PID" 2>/dev/null || rc=$?
  [ "$rc" = 137 ] && rc="killed"
  UP_PID=""
  if [ "$rc" = 0 ]; then
    outcome="ok"
    break
  fi
  if [ "$restarts" -ge "$MAX_RESTARTS" ] || [ $(($(now_ms) - started)) -ge $((MAX_SECS * 1000)) ]; then
    outcome="cap reached (run $runs ended: $rc)"
    break
  fi
  restarts=$((restarts + 1))
done
wall_ms=$(($(now_ms) - started))

# Every asset on the emulator, straight from the API: follow `next` or `next_pq` through `pq`,
# retrying the injected 503s and 429s.
: >"$WORK/names"
cursor=""
pages=0
while :; do
  url="$BASE/v1/assets?limit=500${cursor:+&pq=$cursor}"
  page=""
  for _ in $(seq 1 50); do
    status=$(curl -sS -o "$WORK/page.json" -w '%{http_code}' -H "Authorization: Bearer $KEY" "$url" || echo 000)
    if [ "$status" = 200 ]; then page="$WORK/page.json"; break; fi
    sleep 0.2
  done
  [ -n "$page" ] || { echo "listing the assets failed (last status $status)" >&2; exit 2; }
  jq -r '.items[].name' "$page" >>"$WORK/names"
  pages=$((pages + 1))
  cursor=$(jq -r '.next // .next_pq // empty' "$page")
  [ -n "$cursor" ] || break
  [ "$pages" -lt 10000 ] || { echo "the asset listing does not end" >&2; exit 2; }
done

assets=$(wc -l <"$WORK/names" | tr -d ' ')
distinct=$(sort -u "$WORK/names" | wc -l | tr -d ' ')
duplicates=$((assets - distinct))
repeated=$(sort "$WORK/names" | uniq -c | awk '$1 > 1 {printf "%s%s(x%d)", sep, $2, $1; sep=" "}')
missing=$(comm -23 <(ls "$WORK/files" | sort) <(sort -u "$WORK/names") | wc -l | tr -d ' ')
missing_names=$(comm -23 <(ls "$WORK/files" | sort) <(sort -u "$WORK/names") | head -n 10 | tr '\n' ' ')

printf 'soak: files=%d assets=%d duplicates=%d missing=%d restarts=%d wall=%d.%ds seed=%s kill_every=%ss result=%s\n' \
  "$FILES" "$assets" "$duplicates" "$missing" "$restarts" $((wall_ms / 1000)) $((wall_ms % 1000 / 100)) \
  "$SEED" "$KILL_SECS" "$outcome"
[ -n "$repeated" ] && echo "  names on more than one asset: $repeated"
[ "$missing" -gt 0 ] && echo "  missing (first 10): $missing_names"

[ "$outcome" = ok ] && [ "$duplicates" -eq 0 ] && [ "$missing" -eq 0 ]
