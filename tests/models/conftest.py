import os
import sys

# the run server's test helpers (server_process, chromium) live beside the server's tests
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "server"))
