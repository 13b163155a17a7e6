import os
import sys

# the nuclio wrapper harness and the `mlrun serve` process helper live with the tests that made them
for folder in ("deploy", "remote"):
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), folder)
    if path not in sys.path:
        sys.path.append(path)
