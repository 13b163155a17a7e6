"""A run's end, kept on this machine when the store cannot take it, and delivered later.

The final write of a run (its end, its log) is retried with backoff for ``$MLRUN_FINAL_WRITE_TIMEOUT`` seconds
(default 30).  When the store still fails, the record (and log) is kept in ``$MLRUN_HOME/spool/<store>/`` and
the next mlrun process that opens that store (any command, run or server) delivers it; the store then shows
the run's true end.  A record the store has since ended otherwise (a later end) is not overwritten: only a
run still ``running``, or marked gone by ``mlrun.rundb.liveness``, takes the spooled end.
"""
from __future__ import annotations

import json
import os

from ..errors import StoreError

FINAL_WRITE_ENV = "MLRUN_FINAL_WRITE_TIMEOUT"
DEFAULT_FINAL_WRITE = 30.0


def spool_dir(url: str) -> str:
    """Where the ends of runs of the store ``url`` wait for it (one folder per store; the URL is not in the name)."""
    import hashlib

    from ..config import home_dir

    return os.path.join(home_dir(), "spool", hashlib.sha256(url.encode()).hexdigest()[:16])


def _path(url: str, uid: str, iteration: int) -> str:
    return os.path.join(spool_dir(url), f"{uid}-{iteration}.json")


def store_final(db, data: dict, log: bytes | None = None) -> str:
    """Store a run's final record ``data`` (plain, masked) and its whole ``log`` (``None``: keep the log as is),
    retrying within ``$MLRUN_FINAL_WRITE_TIMEOUT``; ``""`` when stored, else the file it is kept in until the
    next mlrun process using the store delivers it.  Bad records raise as they would have."""
    reason = write_final(db, data, log)
    return keep(db.url, data, log, reason) if reason else ""


def write_final(db, data: dict, log: bytes | None = None) -> str:
    """``store_final`` without keeping: ``""`` when stored, else why the store refused it to the end."""
    if log is None:
        return retried(lambda: db.store_run_data(data))
    return retried(lambda: db.store_run_data_and_log(data, log))


def retried(write) -> str:
    """Call ``write()`` until it stops raising ``StoreError``, with backoff, for ``$MLRUN_FINAL_WRITE_TIMEOUT``
    seconds; ``""`` once it succeeded, else the last error."""
    import time

    from ..config import env_seconds

    deadline = time.monotonic() + env_seconds(FINAL_WRITE_ENV, DEFAULT_FINAL_WRITE)
    delay = 0.1
    while True:
        try:
            write()
            return ""
        except StoreError as exc:
            if time.monotonic() + delay >= deadline:
                return str(exc)
        time.sleep(delay)  # backoff between attempts of a write the store refused
        delay = min(delay * 2, 2.0)


def keep(url: str, data: dict, log: bytes | None, reason: str) -> str:
    """Keep the end of a run for the store ``url`` on this machine; the file's path (a line on stderr says it)."""
    import base64
    import sys

    from ..datastore.base import atomic_path

    meta = data.get("metadata") or {}
    path = _path(url, meta.get("uid", ""), int(meta.get("iteration") or 0))
    body = {"record": data, "log": None if log is None else base64.b64encode(log).decode()}
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with atomic_path(path) as tmp, open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fp:
            json.dump(body, fp)
    except OSError as exc:
        raise StoreError(f"{reason}; the run's end could not be kept on this machine either "
                         f"({path}: {exc.strerror or exc})") from None
    print(f"mlrun: the run store could not record the end of run {meta.get('uid')} ({reason}); it is kept in "
          f"{path} and recorded by the next mlrun command that uses this store", file=sys.stderr)
    return path


def kept(url: str, uid: str, iteration: int = 0) -> dict | None:
    """The record kept for run ``uid`` of the store ``url``, if any."""
    try:
        with open(_path(url, uid, iteration)) as fp:
            return json.load(fp)["record"]
    except (OSError, ValueError, KeyError):
        return None


def deliver(db) -> int:
    """Store the run ends kept for ``db`` (one attempt each; what fails stays for the next time); how many."""
    folder = spool_dir(db.url)
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    except OSError:
        return 0  # nothing kept: the common case, one failed listdir
    delivered = 0
    for name in names:
        path = os.path.join(folder, name)
        try:
            with open(path) as fp:
                body = json.load(fp)
            data, log = body["record"], body.get("log")
            if _newer_than_stored(db, data):
                import base64

                if log is None:
                    db.store_run_data(data)
                else:
                    db.store_run_data_and_log(data, base64.b64decode(log))
            os.unlink(path)
            delivered += 1
        except StoreError:
            return delivered  # the store is still out: the rest waits too
        except (OSError, ValueError, KeyError):
            continue
    return delivered


def _newer_than_stored(db, data: dict) -> bool:
    from ..errors import NotFoundError
    from .liveness import PROCESS_GONE

    meta = data.get("metadata") or {}
    try:
        stored = db.read_run_data(meta.get("uid", ""), int(meta.get("iteration") or 0))
    except NotFoundError:
        return True
    status = stored.get("status") or {}
    return status.get("state") in ("created", "running") or str(status.get("error", "")).startswith(PROCESS_GONE)
