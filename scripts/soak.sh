#!/usr/bin/env bash
# Soak: runs the fleet simulator against one server, round after round, for DURATION seconds
# and samples the server's resident memory every 2 s. Fails when memory after the run is more
# than 10 % above the level reached after the first round (the warm-up).
# Usage: scripts/soak.sh [DURATION_SECONDS] [debug|release]   (600 s documented; CI runs a short one)
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-600}"
configuration="${2:-debug}"
bin="$(swift build -c "$configuration" --show-bin-path)"
for tool in faceloop-server faceloop; do
  [[ -x "$bin/$tool" ]] || { echo "build first: swift build -c $configuration ($bin/$tool is missing)"; exit 1; }
done
work="$(mktemp -d)"
server_pid=""
cleanup() { if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT
"$bin/faceloop-server" --data-dir "$work/server" --host 127.0.0.1 --port 0 --log-level error >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 1 150); do grep -q "listening on" "$work/server.out" 2>/dev/null && break; sleep 0.2; done
url=$(grep -o 'https://127.0.0.1:[0-9]*' "$work/server.out")
rss() { awk '/VmRSS/ { print $2 }' "/proc/$server_pid/status"; }

( while kill -0 "$server_pid" 2>/dev/null; do echo "$(date +%s) $(rss)" >>"$work/rss.log"; sleep 2; done ) &
sampler=$!

started=$(date +%s)
round=0
events=0
baseline=""
while (( $(date +%s) - started < duration )); do
  round=$((round + 1))
  "$bin/faceloop" simulate fleet --kiosks 40 --outcomes-per-kiosk 100 --batch-size 50 --concurrency 8 \
    --id-prefix "soak-r$round" --skip-threshold-check --json \
    --server "$url" --token-file "$work/server/admin.token" --ca-file "$work/server/ca.crt" >"$work/round.json"
  errors=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["errors"])' "$work/round.json")
  round_events=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["events"])' "$work/round.json")
  events=$((events + round_events))
  if [[ "$errors" != "0" ]]; then echo "round $round: $errors errors"; cat "$work/round.json"; exit 1; fi
  if [[ -z "$baseline" ]]; then baseline=$(rss); fi
done
kill "$sampler" 2>/dev/null || true
final=$(rss)
elapsed=$(( $(date +%s) - started ))
peak=$(awk '{ if ($2 > max) max = $2 } END { print max }' "$work/rss.log")
growth=$(python3 -c "print(round(100 * ($final - $baseline) / $baseline, 1))")
echo "soak: $round rounds, $events outcomes in ${elapsed} s; server RSS after warm-up $((baseline / 1024)) MiB, at the end $((final / 1024)) MiB (peak $((peak / 1024)) MiB), growth ${growth} %"
python3 -c "import sys; sys.exit(0 if $final <= 1.10 * $baseline else 1)" || { echo "memory grew more than 10 %"; exit 1; }
