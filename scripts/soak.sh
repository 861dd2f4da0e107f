#!/usr/bin/env bash
# Soak: runs the fleet simulator against one server, round after round, for DURATION seconds
# and samples the server's resident memory every 2 s. After the run it fits a straight line to
# the samples taken after the warm-up (the first round) and prints the slope in MiB per hour
# with its 95 % interval, over the whole run and over its second half. It fails when memory
# at the end is more than 10 % above the warm-up level, or, for runs of 30 minutes and more,
# when the second half's slope is above FACELOOP_SOAK_MAX_SLOPE (MiB/h, default 4): a slow
# leak that a comparison of end and start cannot see (docs/reliability.md, "Memory soak").
# Usage: scripts/soak.sh [DURATION_SECONDS] [debug|release]   (3600 s release documented; CI runs a short one)
# FACELOOP_SOAK_BIN_DIR runs the binaries of another build (default: this package's build);
# FACELOOP_SOAK_SAMPLES=FILE keeps the memory samples ("unix-seconds RSS-KiB" per line).
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-600}"
configuration="${2:-debug}"
bin="${FACELOOP_SOAK_BIN_DIR:-$(swift build -c "$configuration" --show-bin-path)}"
for tool in faceloop-server faceloop; do
  [[ -x "$bin/$tool" ]] || { echo "build first: swift build -c $configuration ($bin/$tool is missing)"; exit 1; }
done
work="$(mktemp -d)"
server_pid=""
cleanup() { if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT
"$bin/faceloop-server" --data-dir "$work/server" --host 127.0.0.1 --port 0 --metrics-port 0 --log-level error >"$work/server.out" 2>"$work/server.err" &
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
  if [[ -z "$baseline" ]]; then baseline=$(rss); warmed_up_at=$(date +%s); fi
done
kill "$sampler" 2>/dev/null || true
final=$(rss)
if [[ -n "${FACELOOP_SOAK_SAMPLES:-}" ]]; then cp "$work/rss.log" "$FACELOOP_SOAK_SAMPLES"; fi
elapsed=$(( $(date +%s) - started ))
peak=$(awk '{ if ($2 > max) max = $2 } END { print max }' "$work/rss.log")
growth=$(python3 -c "print(round(100 * ($final - $baseline) / $baseline, 1))")
echo "soak: $round rounds, $events outcomes in ${elapsed} s; server RSS after warm-up $((baseline / 1024)) MiB, at the end $((final / 1024)) MiB (peak $((peak / 1024)) MiB), growth ${growth} %"
# Least-squares line through the samples after the warm-up; the interval is the slope's
# ±1.96 standard errors (samples 2 s apart are correlated, so read it as a rough guide).
python3 - "$work/rss.log" "$warmed_up_at" "$elapsed" "${FACELOOP_SOAK_MAX_SLOPE:-4}" <<'FIT'
import sys
path, warm, elapsed, limit = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
samples = [(float(t), float(kib) / 1024) for t, kib in (line.split() for line in open(path) if len(line.split()) == 2)]
samples = [(t, mib) for t, mib in samples if t >= warm]

def fit(points):
    n = len(points)
    if n < 3:
        return None
    mt = sum(t for t, _ in points) / n
    mm = sum(m for _, m in points) / n
    sxx = sum((t - mt) ** 2 for t, _ in points)
    if sxx == 0:
        return None
    slope = sum((t - mt) * (m - mm) for t, m in points) / sxx
    residual = sum((m - mm - slope * (t - mt)) ** 2 for t, m in points)
    error = (residual / (n - 2) / sxx) ** 0.5
    return slope * 3600, 1.96 * error * 3600, n

whole = fit(samples)
half = fit(samples[len(samples) // 2:])
for name, result in (("after warm-up", whole), ("second half", half)):
    if result:
        print(f"soak: RSS trend {name}: {result[0]:+.2f} MiB/h (95 % interval ±{result[1]:.2f}, {result[2]} samples)")
# Per quarter: bounded caches filling show as a slope that falls towards zero; a leak does not.
quarter = len(samples) // 4
if quarter >= 3:
    slopes = [fit(samples[i * quarter:(i + 1) * quarter]) for i in range(4)]
    print("soak: RSS trend per quarter: " + ", ".join(f"{s[0]:+.2f}" for s in slopes if s) + " MiB/h")
if elapsed >= 1800:
    if half is None:
        sys.exit("soak: too few samples to fit a trend")
    if half[0] > limit:
        sys.exit(f"soak: memory grows {half[0]:.2f} MiB/h over the second half, above the {limit} MiB/h limit")
FIT
python3 -c "import sys; sys.exit(0 if $final <= 1.10 * $baseline else 1)" || { echo "memory grew more than 10 %"; exit 1; }
