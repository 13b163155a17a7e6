import os
import sys

# the nuclio wrapper harness, the `mlrun serve` and `mlrun server` process helpers and the headless chromium live
# with the tests that made them
for folder in ("deploy", "remote", "server"):
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), folder)
    if path not in sys.path:
        sys.path.append(path)
