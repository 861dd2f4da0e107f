#!/usr/bin/env bash
# Federation aggregators beside Flower 1.42 on the same update files, in one run.
#
#   FLOWER_PYTHON=/path/to/venv/bin/python scripts/bench/federation.sh [N ...]
#
# FLOWER_PYTHON must have flwr==1.42.0 and numpy (see scripts/fixtures for a venv recipe).
# Defaults: N = 100 and 1000 clients, D = 16384. BLAS runs single-threaded with the kernel
# this CPU allows (scripts/openblas-env.sh), as a server should run it.
set -euo pipefail

cd "$(dirname "$0")/../.."
python="${FLOWER_PYTHON:-python3}"
dimension="${DIMENSION:-16384}"
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(100 1000)
source scripts/openblas-env.sh
export OPENBLAS_NUM_THREADS=1

swift build -c release --product federation-bench >/dev/null
bench="$(swift build -c release --show-bin-path)/federation-bench"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "| N | D | aggregator | Flower (s) | FaceLoop (s) | speed-up | max abs diff |"
echo "|---|---|---|---|---|---|---|"
for n in "${sizes[@]}"; do
    file="$work/updates-$n.bin"
    "$python" scripts/bench/make_updates.py "$file" "$n" "$dimension"
    "$python" scripts/bench/flower_bench.py "$file" "$work/flower-$n" 3 > "$work/flower-$n.txt"
    "$bench" "$file" 5 "$work/flower-$n" > "$work/swift-$n.txt"
    grep '^#' "$work/swift-$n.txt" >&2
    while read -r name flower; do
        read -r _ swift diff < <(grep "^$name " "$work/swift-$n.txt")
        speedup=$(awk -v f="$flower" -v s="$swift" 'BEGIN { printf "%.1f×", f / s }')
        echo "| $n | $dimension | $name | $flower | $swift | $speedup | $diff |"
    done < "$work/flower-$n.txt"
done
