# Sourced by the scripts that run the face pipeline: sets OPENBLAS_CORETYPE from the CPU
# (scripts/openblas-coretype.sh) unless the caller chose one, and keeps BLAS single-threaded.
if [[ -z "${OPENBLAS_CORETYPE:-}" ]]; then
  detected_coretype=$("$(dirname "${BASH_SOURCE[0]}")/openblas-coretype.sh")
  if [[ -n "$detected_coretype" ]]; then export OPENBLAS_CORETYPE="$detected_coretype"; fi
  unset detected_coretype
fi
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
