#!/usr/bin/env bash
# Runs the whole test suite: installs missing packages, fetches the model files when the
# face module is present, then `swift test` (debug build).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [[ -x scripts/fetch-models.sh ]]; then scripts/fetch-models.sh; fi
# OpenBLAS does not recognise every Xeon and then falls back to a slow generic kernel.
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-SkylakeX}"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
exec swift test "$@"
