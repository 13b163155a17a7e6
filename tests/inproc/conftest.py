"""Fixtures of the in-process tests: the remote tests' ``mlrun serve`` helpers are shared (``remote_helpers``)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "remote"))
