#!/usr/bin/env bash
# Installs what is missing, builds the server in release mode and starts it on its embedded
# SQLite default (./data). Extra arguments go to faceloop-server, e.g. --port 9443.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release
exec .build/release/faceloop-server "$@"
