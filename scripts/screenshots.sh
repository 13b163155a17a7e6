#!/usr/bin/env bash
# Take the docs' pictures of the web UI (docs/images/ui-*.png) with the browser tests, so they show today's UI.
# Usage: scripts/screenshots.sh   (needs chromium and chromedriver, and .venv set up as scripts/test.sh does)
# The tests save a picture of each page they check when MLRUN_DOCS_SCREENSHOTS names a folder.
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
[ -x "$python" ] || python=python3
images=docs/images
mkdir -p "$images"
# a fixed temporary folder: the paths the pages show stay the same from one run to the next
base=${TMPDIR:-/tmp}/mlrun-docs-screenshots
rm -rf "$base"
MLRUN_DOCS_SCREENSHOTS="$PWD/$images" "$python" -m pytest -q -p no:cacheprovider -p no:xdist --basetemp="$base" \
  tests/server/test_server_ui.py
rm -rf "$base"
for name in ui-runs ui-run ui-sweep ui-compare ui-model; do
  [ -s "$images/$name.png" ] || { echo "screenshots.sh: $images/$name.png was not taken" >&2; exit 1; }
  echo "$images/$name.png $(wc -c <"$images/$name.png") bytes"
done
