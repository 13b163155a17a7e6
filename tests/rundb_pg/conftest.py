import os
import sys

# the run-server helpers (a real ``mlrun server`` process)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "server"))
