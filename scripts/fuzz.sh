#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for a bounded time on a copy of its seed corpus.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (CI runs a short bounded pass)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
targets=(fuzz-upload fuzz-models fuzz-jpeg fuzz-scores)
for t in "${targets[@]}"; do
  swift build --scratch-path .build-fuzz -c debug --product "$t" \
    -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING -Xswiftc -use-ld=lld >/dev/null
done
bin="$(swift build --scratch-path .build-fuzz --show-bin-path)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export SWIFT_BACKTRACE=enable=no
status=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  cp Fuzz/"$t"/corpus/* "$work/$t/"
  log="$work/$t.log"
  if "$bin/$t" "$work/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    runs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    echo "$t: ${runs:-?} inputs in ${seconds}s, no crash"
  else
    echo "$t: FAILED (see the crash input and log below)"; tail -40 "$log"; status=1
  fi
done
exit $status
