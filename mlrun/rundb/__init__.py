"""Run stores: where run records and logs are kept.

``get_run_db(url)`` picks a back end by the URL's scheme: a local directory (the default,
``~/.mlrun/db``), ``s3://bucket/prefix``, ``postgresql://user@host/db`` or ``http(s)://server``.  Each back end
is one module implementing ``RunDB``; ``register_run_db`` adds more.
"""
from __future__ import annotations

from ..config import default_dbpath
from ..errors import InvalidInputError
from ..registry import Registry
from .base import RunDB

__all__ = ["RunDB", "get_run_db", "register_run_db"]

#: scheme -> (``RunDB`` class or "module:Class", pip extra)
RUN_STORES = Registry("the {name}:// run store", "mlrun.run_stores", {
    ("", "file"): ("mlrun.rundb.sqlite:SQLiteRunDB", ""),
    "s3": ("mlrun.rundb.s3db:S3RunDB", "s3"),
    ("http", "https"): ("mlrun.rundb.httpdb:HTTPRunDB", "http"),
    ("postgresql", "postgres"): ("mlrun.rundb.postgres:PostgresRunDB", "postgres"),
})
# one instance per URL (kept apart from the registry: a registration clears it)
_cache: dict[str, RunDB] = {}


def register_run_db(scheme: str, db: str | type, extra: str = "") -> None:
    """Serve ``scheme://`` run-store URLs with ``db`` (a ``RunDB`` subclass or ``"module:Class"``)."""
    RUN_STORES.register(scheme, db, extra)
    _cache.clear()


def get_run_db(url: str | None = None) -> RunDB:
    """The run store at ``url``, else ``$MLRUN_DBPATH``, else ``~/.mlrun/db``; one instance per URL.  Run ends kept
    on this machine for the store (``mlrun.rundb.spool``) are delivered when it is first opened."""
    url = url or default_dbpath()
    if url in _cache:
        return _cache[url]
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in RUN_STORES:
        known = ", ".join(f"{s}://" for s in RUN_STORES.names() if s)
        raise InvalidInputError(f"unknown run store {url!r} (use a directory or one of: {known})")
    db = _cache[url] = RUN_STORES.get(scheme)(url)
    from .spool import deliver

    deliver(db)  # ends of runs this machine could not record before
    return db
