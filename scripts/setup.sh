#!/usr/bin/env bash
# Installs what ShopLens needs on a Debian machine: system packages through apt (as root),
# then the Python environment in .venv. Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Java 17 runs TorchServe; redis-server backs the API's cache; chromium and its driver run
# the extension's end-to-end tests and the demo; postgresql's binaries run the corrections store's
# tests against a real PostgreSQL (each test run starts its own cluster; the service is not used).
APT_PACKAGES=(openjdk-17-jre-headless redis-server chromium chromium-driver python3-venv python3-dev postgresql)
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
# Node (18 or newer) runs the extension's unit tests and packaging; a newer one already here is kept.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing system packages (${missing[*]}); run this script as root" >&2
    exit 1
  fi
  echo "setup: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# constraints.txt pins the torch/torchvision pair known to work on these machines; with
# your own torch already installed in .venv, drop the -c to keep it.
# every component's extra (the tests and the main job run them all) and the test tools
.venv/bin/python -m pip install -q -c constraints.txt -e '.[all,dev]'
# the extension's test tools (jsdom), exactly as package-lock.json says
(cd extension && npm ci --no-audit --no-fund --loglevel=error)
echo "setup: done (.venv and extension/node_modules ready)"
