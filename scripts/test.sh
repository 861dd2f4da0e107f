#!/usr/bin/env bash
# Runs the whole test suite: installs missing packages, fetches the model files, runs
# `swift test` (debug build), then bounded robustness passes: libFuzzer over the fuzz targets
# and schemathesis against a running server, and a short memory soak under a simulated fleet.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/fetch-models.sh
# docs/architecture.md's module table must match Package.swift.
scripts/check-architecture.py
# OpenBLAS does not recognise every Xeon and then falls back to a slow generic kernel.
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-SkylakeX}"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
# The storage suite runs against SQLite and PostgreSQL: a throwaway cluster on 127.0.0.1,
# removed when the tests end (or give FACELOOP_TEST_POSTGRES_URL to use your own).
if [[ -z "${FACELOOP_TEST_POSTGRES_URL:-}" ]]; then
  eval "$(scripts/postgres-test-cluster.sh start)"
  trap 'scripts/postgres-test-cluster.sh stop "$FACELOOP_TEST_PGDATA"' EXIT
fi
swift test "$@"
# Bounded robustness passes (longer runs: docs/reliability.md).
scripts/fuzz.sh "${FACELOOP_FUZZ_SECONDS:-20}"
scripts/api-fuzz.sh "${FACELOOP_API_EXAMPLES:-25}"
scripts/soak.sh "${FACELOOP_SOAK_SECONDS:-45}"
