"""The run server's size limits (kept apart from the app: ``mlrun server --help`` must not load Flask)."""
from __future__ import annotations

#: the largest request body accepted (a record with long metric histories, a log chunk): --max-body-size
MAX_BODY = 256 * 1024 * 1024
#: the largest record stored (as compact JSON): --max-record-size; a million-point metric history is about 30 MB
MAX_RECORD = 64 * 1024 * 1024
#: the largest body a request without a token may send (the login form): anything more is refused from its headers
MAX_PUBLIC_BODY = 64 * 1024
