"""The run server: a REST API over any run store, and a web UI to browse, chart and compare runs.

    mlrun server --store ~/.mlrun/db --port 8080      # then MLRUN_DBPATH=http://host:8080 anywhere

``create_app(rundb, token)`` builds the Flask app (for any WSGI server); ``serve(app, ...)`` runs it
on waitress.  Flask and waitress load on first use, never with ``import mlrun``.
"""
from __future__ import annotations

from .limits import MAX_BODY, MAX_RECORD

__all__ = ["create_app", "serve", "MAX_BODY", "MAX_RECORD"]


def __getattr__(name: str):
    if name in ("create_app", "serve"):
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module 'mlrun.server' has no attribute {name!r}")
