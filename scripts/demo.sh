#!/usr/bin/env bash
# Install mlrun (core only) into .venv and run the seed example end to end on the default run store
# (~/.mlrun/db): parameters, a secrets file, an input file, metrics, an artifact, then the stored record.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q -e .
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
