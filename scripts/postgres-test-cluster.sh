#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on 127.0.0.1 for the tests and benchmarks that need one.
#   eval "$(scripts/postgres-test-cluster.sh start)"   # exports FACELOOP_TEST_POSTGRES_URL, FACELOOP_TEST_PGDATA
#   scripts/postgres-test-cluster.sh stop "$FACELOOP_TEST_PGDATA"
# Uses Debian's postgresql package (scripts/install-deps.sh installs it). PostgreSQL refuses to
# run as root, so as root the cluster belongs to the `postgres` user the package creates.
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [[ -z "$bin" ]]; then
  echo "error: PostgreSQL is not installed (apt-get install postgresql)" >&2
  exit 1
fi
as_owner=()
if [[ $(id -u) -eq 0 ]]; then as_owner=(runuser -u postgres --); fi

case "${1:-}" in
start)
  # Under /tmp even when TMPDIR is private: as root the cluster runs as the postgres user.
  dir=$(mktemp -d /tmp/faceloop-pg.XXXXXX)
  chmod 700 "$dir"
  if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$dir"; fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U faceloop -A trust -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=400 -c shared_buffers=256MB" start >/dev/null ||
    { cat "$dir/server.log" >&2; exit 1; }
  # This cluster has no TLS, and the store encrypts unless the URL turns it off explicitly.
  echo "export FACELOOP_TEST_POSTGRES_URL='postgres://faceloop@127.0.0.1:$port/postgres?sslmode=disable'"
  echo "export FACELOOP_TEST_PGDATA='$dir'"
  ;;
stop)
  dir="${2:?usage: $0 stop DIRECTORY}"
  [[ -d "$dir/data" ]] && "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start | stop DIRECTORY" >&2
  exit 2
  ;;
esac
