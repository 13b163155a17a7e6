"""The run server: a REST API over any run store, and a web UI to browse, chart and compare runs.

    mlrun server --store ~/.mlrun/db --port 8080      # then MLRUN_DBPATH=http://host:8080 anywhere

``create_app(rundb, token)`` builds the Flask app (for any WSGI server); ``serve(app, ...)`` runs it
on waitress.  Flask and waitress load on first use, never with ``import mlrun``.
"""
from __future__ import annotations

__all__ = ["create_app", "serve"]

#: the largest request body accepted (a record with long metric histories, a log chunk): --max-body-size
MAX_BODY = 256 * 1024 * 1024
#: the largest record stored (as compact JSON): --max-record-size; a million-point metric history is about 30 MB
MAX_RECORD = 64 * 1024 * 1024


def __getattr__(name: str):
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module 'mlrun.server' has no attribute {name!r}")
