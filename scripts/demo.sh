#!/usr/bin/env bash
# Install mlrun (core only) into .venv and run the seed example end to end on the default run store
# (~/.mlrun/db): parameters, a secrets file, an input file, metrics, an artifact, then the stored record.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== python3 -m venv .venv (unless there is one) and pip install -e . (its progress below)"
[ -x .venv/bin/python ] || python3 -m venv .venv
# a distribution called mlrun (our old name, or the index's other project) owns the same package and command:
# one .venv holds one of them
if ls .venv/lib/python3*/site-packages/mlrun-[0-9]*.dist-info >/dev/null 2>&1; then
  echo "== pip uninstall mlrun (mlrun-lite's old name, or the index's other project: both own the package mlrun)"
  .venv/bin/python -m pip uninstall -y mlrun
fi
.venv/bin/python -m pip install -e .
export PATH="$PWD/.venv/bin:$PATH"

work=$(mktemp -d)
cp examples/example1.py "$work/"
cd "$work"
printf 'ACCESS_KEY=my-access-key-123\n' > secrets.txt
printf 'hello from infile.txt\n' > infile.txt

run() { echo; echo "== $*"; "$@"; }  # print the exact command, then run it

run python -m mlrun run -p p1=5 -s file=secrets.txt -i "infile.txt=$work/infile.txt" --save-to "$work/" example1.py
run mlrun get runs --limit 5
uid=$(mlrun get runs --limit 1 -o json | python -c 'import json,sys; print(json.load(sys.stdin)[0]["uid"])')
run mlrun logs "$uid"
echo "== the artifact $work/test.txt: $(cat "$work/test.txt")"
echo "== the record was also saved to $work/$uid.yaml"
