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
# OpenBLAS does not recognise every Xeon and then falls back to a slow generic kernel: the
# kernel follows the CPU's flags unless OPENBLAS_CORETYPE is already set.
source scripts/openblas-env.sh
echo "OpenBLAS kernel: ${OPENBLAS_CORETYPE:-chosen by OpenBLAS (no AVX2 or AVX-512 found)}"
# The storage suite runs against SQLite and PostgreSQL: a throwaway cluster on 127.0.0.1,
# removed when the tests end (or give FACELOOP_TEST_POSTGRES_URL to use your own). Without a
# cluster the PostgreSQL cases would be skipped, so a failed start stops the run.
if [[ -z "${FACELOOP_TEST_POSTGRES_URL:-}" ]]; then
  if ! cluster_environment=$(scripts/postgres-test-cluster.sh start); then
    echo "error: the throwaway PostgreSQL cluster did not start (its log is above), so the PostgreSQL tests cannot run." >&2
    echo "       Fix the cause, or set FACELOOP_TEST_POSTGRES_URL to a server of your own." >&2
    exit 1
  fi
  eval "$cluster_environment"
  trap 'scripts/postgres-test-cluster.sh stop "$FACELOOP_TEST_PGDATA"' EXIT
fi
swift test "$@"
# Bounded robustness passes (longer runs: docs/reliability.md).
scripts/fuzz.sh "${FACELOOP_FUZZ_SECONDS:-20}"
scripts/api-fuzz.sh "${FACELOOP_API_EXAMPLES:-25}"
scripts/soak.sh "${FACELOOP_SOAK_SECONDS:-45}"
