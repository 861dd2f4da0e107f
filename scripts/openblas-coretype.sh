#!/usr/bin/env bash
# Prints the OpenBLAS kernel this CPU should run (OpenBLAS does not recognise every Xeon and
# then falls back to a slow generic kernel): SkylakeX with AVX-512, Haswell with AVX2, and
# nothing otherwise (leave OpenBLAS's own choice). The agent applies the same rule
# (BLASKernelAdvice); a test keeps the two in step.
# Usage: scripts/openblas-coretype.sh [CPUINFO_FILE]   (default /proc/cpuinfo)
set -euo pipefail
flags=$(awk -F': *' '$1 ~ /^flags[ \t]*$/ { print " " $2 " "; exit }' "${1:-/proc/cpuinfo}" 2>/dev/null || true)
case "$flags" in
  *" avx512f "*) echo SkylakeX ;;
  *" avx2 "*) echo Haswell ;;
esac
