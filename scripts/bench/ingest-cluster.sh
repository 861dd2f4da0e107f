#!/usr/bin/env bash
# Ingest over mutual TLS on SQLite, and on PostgreSQL with 1 and 3 server nodes, on this machine.
#
#   scripts/bench/ingest-cluster.sh [kiosks] [batches per kiosk] [requests in flight per kiosk]
#
# Builds the release binaries, starts a throwaway PostgreSQL cluster (default settings:
# fsync and synchronous_commit on, as SQLite runs with synchronous=FULL), gives every run an
# empty database, and prints one table.
set -euo pipefail
cd "$(dirname "$0")/../.."
kiosks="${1:-16}"
batches="${2:-25}"
in_flight="${3:-4}"

swift build -c release --product faceloop-server >/dev/null
swift build -c release --product ingest-bench >/dev/null
bin="$(swift build -c release --show-bin-path)"

eval "$(scripts/postgres-test-cluster.sh start)"
trap 'scripts/postgres-test-cluster.sh stop "$FACELOOP_TEST_PGDATA"' EXIT
psql_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql
fresh_database() {
  local name="bench_$1"
  "$psql_bin" -q "$FACELOOP_TEST_POSTGRES_URL" -c "CREATE DATABASE $name" >/dev/null
  echo "${FACELOOP_TEST_POSTGRES_URL/\/postgres\?//$name?}"
}

args=(--server "$bin/faceloop-server" --kiosks "$kiosks" --batches "$batches" --connections-per-kiosk "$in_flight")
echo "| run | batches × outcomes | events/s | p50 | p99 |"
echo "|---|---|---|---|---|"
"$bin/ingest-bench" "${args[@]}"
"$bin/ingest-bench" "${args[@]}" --postgres-url "$(fresh_database one)" --postgres-direct-url "$(fresh_database one_direct)" --nodes 1
"$bin/ingest-bench" "${args[@]}" --postgres-url "$(fresh_database three)" --postgres-direct-url "$(fresh_database three_direct)" --nodes 3
