#!/usr/bin/env bash
# Face pipeline benchmark: FaceLoop (Swift, OpenBLAS) against dlib-bin (PyPI wheel) on the
# same images, per stage, on one core. Not a test: it prints a table and the ratio.
#
# Usage: Benchmarks/face/run.sh [IMAGES_DIR] [COUNT]
#   IMAGES_DIR  folder searched recursively for JPEGs, e.g. 250×250 LFW photos
#               (default: $FACELOOP_LFW_DIR)
#   COUNT       number of images (default 40)
# Environment: BENCH_OPENBLAS_CORETYPE (OpenBLAS kernel, default the one this CPU allows,
#              scripts/openblas-coretype.sh, whatever OPENBLAS_CORETYPE the shell has;
#              see docs/face-verification.md),
#              BENCH_CPU (core to pin to, default 0).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
images_dir="${1:-${FACELOOP_LFW_DIR:-}}"
if [[ -z "$images_dir" ]]; then echo "usage: $0 IMAGES_DIR [COUNT]  (or set FACELOOP_LFW_DIR)" >&2; exit 2; fi
count="${2:-40}"
cpu="${BENCH_CPU:-0}"
OPENBLAS_CORETYPE="${BENCH_OPENBLAS_CORETYPE:-}"
source "$repo_root/scripts/openblas-env.sh"
if [[ -n "$OPENBLAS_CORETYPE" ]]; then export OPENBLAS_CORETYPE; fi
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

if [[ ! -d "$images_dir" ]]; then
  echo "run.sh: image folder $images_dir not found; pass a folder of JPEGs as the first argument" >&2
  exit 1
fi

cd "$repo_root"
scripts/fetch-models.sh
models="${FACELOOP_MODELS_DIR:-$repo_root/models}"

echo "== building release"
swift build -c release --product faceloop-agent
agent="$(swift build -c release --show-bin-path)/faceloop-agent"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "== installing dlib-bin into a throwaway venv"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet dlib-bin numpy pillow

mapfile -t images < <(find "$images_dir" -type f \( -iname '*.jpg' -o -iname '*.jpeg' \) | sort | head -n "$count")
echo "== ${#images[@]} images from $images_dir, pinned to CPU $cpu, OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE"

# Two passes over the images in one process each; the report drops the first image of each
# run (model loading, page faults) and takes medians.
taskset -c "$cpu" "$agent" embed --json --models-dir "$models" "${images[@]}" "${images[@]}" > "$work/faceloop.json"
taskset -c "$cpu" "$work/venv/bin/python" "$repo_root/Benchmarks/face/dlib_stages.py" "$models" "${images[@]}" "${images[@]}" > "$work/dlib.json"
"$work/venv/bin/python" "$repo_root/Benchmarks/face/report.py" "$work/faceloop.json" "$work/dlib.json"
