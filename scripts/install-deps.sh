#!/usr/bin/env bash
# Installs the Debian packages FaceLoop builds and tests against, skipping those present.
# Needs root (or sudo) only when something is missing.
set -euo pipefail
# postgresql: the storage suite and the cluster tests run against a throwaway cluster.
# chromium and chromium-driver: the end-to-end test of the web pages drives a headless browser.
packages=(libsqlite3-dev libssl-dev libopenblas-dev libturbojpeg0-dev zlib1g-dev libzstd-dev openssl pkg-config python3 python3-venv python3-pip
          postgresql chromium chromium-driver)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi
if ! command -v swift >/dev/null; then
  echo "error: swift 6.x is not on PATH; install the Swift toolchain for Debian 12 from swift.org" >&2
  exit 1
fi
