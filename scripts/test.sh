#!/usr/bin/env bash
# Install mlrun with every extra into .venv, the Debian packages the tests need, then run the whole suite in parallel.
# Usage: scripts/test.sh [pytest args...]   (MLRUN_TEST_WORKERS: pytest-xdist workers, default 4; 0 runs serially)
# Each step is one line; what apt-get and pip print goes to .venv/test-setup.log, shown when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "== test.sh: $*"; }
mkdir -p .venv
log=.venv/test-setup.log
: >"$log"

quietly() {  # quietly COMMAND...: its output into the log; when it fails, the log's end and exit 1
  if ! "$@" >>"$log" 2>&1; then
    echo "test.sh: failed: $*" >&2
    echo "-- the last lines of $log:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
}

# Debian packages a test needs: "install X when missing" steps, one per tool, said before they are installed
apt_install() {  # apt_install WHY PACKAGE...
  local why=$1; shift
  if [ "$(id -u)" != 0 ]; then
    echo "$why needs: sudo apt-get install $*" >&2
    exit 1
  fi
  step "installing system-wide with apt-get: $* ($why)"
  quietly apt-get update -qq
  DEBIAN_FRONTEND=noninteractive quietly apt-get install -y "$@"
}
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  apt_install "the UI tests" chromium chromium-driver
fi
# initdb and postgres for tests/pgserver.py's throw-away clusters
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt_install "the PostgreSQL tests" postgresql
fi

if [ ! -x .venv/bin/python ]; then
  step "python3 -m venv .venv"
  quietly python3 -m venv .venv
fi
# a distribution called mlrun (our old name, or the index's other project) owns the same package and command:
# left installed beside it, uninstalling it later would take the mlrun command away
if ls .venv/lib/python3*/site-packages/mlrun-[0-9]*.dist-info >/dev/null 2>&1; then
  step "pip uninstall mlrun (mlrun-lite's old name, or the index's other project: both own the package mlrun)"
  quietly .venv/bin/python -m pip uninstall -y mlrun
fi
step "pip install --upgrade pip (details: $log)"
quietly .venv/bin/python -m pip install --upgrade pip
step "pip install -e '.[test]' (details: $log)"
quietly .venv/bin/python -m pip install -e '.[test]'
step "mkdocs build --strict (the docs site: a broken link or reference fails here)"
NO_MKDOCS_2_WARNING=1 .venv/bin/python -m mkdocs build --strict --quiet --site-dir .venv/site

# many tests wait on child processes, pip and sockets, so more workers than cores is no slower (2 cores: 4 as
# fast as 2 or faster); work stealing keeps every worker busy while the few long tests (pip, podman) run
workers=${MLRUN_TEST_WORKERS:-4}
if [ "$workers" = 0 ]; then
  step "python -m pytest $*"
  exec .venv/bin/python -m pytest "$@"
fi
step "python -m pytest -n $workers --dist worksteal $*"
exec .venv/bin/python -m pytest -n "$workers" --dist worksteal "$@"
