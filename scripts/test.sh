#!/usr/bin/env bash
# Install mlrun with every extra into .venv, the browser for the UI tests, then run the whole suite in parallel.
# Usage: scripts/test.sh [pytest args...]   (MLRUN_TEST_WORKERS: pytest-xdist workers, default 4; 0 runs serially)
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "== test.sh: $*"; }

# Debian packages a test needs: "install X when missing" steps, one per tool
apt_install() {  # apt_install WHY PACKAGE...
  local why=$1; shift
  if [ "$(id -u)" != 0 ]; then
    echo "$why needs: sudo apt-get install $*" >&2
    exit 1
  fi
  step "apt-get install $* ($why)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  apt_install "the UI tests" chromium chromium-driver
fi

if [ ! -x .venv/bin/python ]; then
  step "python3 -m venv .venv"
  python3 -m venv .venv
fi
step "pip install --upgrade pip"
.venv/bin/python -m pip install --upgrade pip
step "pip install -e '.[test]'"
.venv/bin/python -m pip install -e '.[test]'

# many tests wait on child processes, pip and sockets, so more workers than cores is no slower (2 cores: 4 as
# fast as 2 or faster); work stealing keeps every worker busy while the few long tests (pip, podman) run
workers=${MLRUN_TEST_WORKERS:-4}
if [ "$workers" = 0 ]; then
  step "python -m pytest $*"
  exec .venv/bin/python -m pytest "$@"
fi
step "python -m pytest -n $workers --dist worksteal $*"
exec .venv/bin/python -m pytest -n "$workers" --dist worksteal "$@"
