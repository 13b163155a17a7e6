"""Runs whose process is gone: told by a heartbeat, marked ``error`` when next seen.

A run's own process (a script's, a local run's child) refreshes the record's ``last_update`` every
``$MLRUN_HEARTBEAT_INTERVAL`` seconds (default 30) while the run is ``running``, and says so in the record
(the annotation ``mlrun/heartbeat``, the interval).  A ``running`` record that says so and was not refreshed
for ``$MLRUN_STALE_AFTER`` seconds (default 120; at least 3 intervals) belongs to a process that ended without
recording its end (killed, its machine lost): when it is next seen, by a listing, ``mlrun get run`` or a run
server's periodic check, it is recorded as ``error`` with ``PROCESS_GONE``.  Runs without the annotation (other
runtimes, older versions) are never marked.
"""
from __future__ import annotations

import contextlib
import os

from ..errors import MLRunError

HEARTBEAT_ENV = "MLRUN_HEARTBEAT_INTERVAL"
DEFAULT_HEARTBEAT = 30.0
STALE_ENV = "MLRUN_STALE_AFTER"
DEFAULT_STALE = 120.0
#: the annotation a heartbeating run carries: its interval in seconds
HEARTBEAT_ANNOTATION = "mlrun/heartbeat"
PROCESS_GONE = "process ended without recording its end"


def heartbeat_interval() -> float:
    """Seconds between heartbeats (``$MLRUN_HEARTBEAT_INTERVAL``); 0: none."""
    from ..config import env_seconds

    return env_seconds(HEARTBEAT_ENV, DEFAULT_HEARTBEAT)


def stale_after(interval: float) -> float:
    """Seconds without a heartbeat after which a run of ``interval`` counts as gone."""
    from ..config import env_seconds

    return max(env_seconds(STALE_ENV, DEFAULT_STALE), 3 * interval)


def _age(last_update: str, now: float) -> float | None:
    from datetime import datetime

    try:
        when = datetime.fromisoformat(str(last_update).replace("Z", "+00:00"))
        return None if when.tzinfo is None else now - when.timestamp()
    except (ValueError, OverflowError):
        return None  # a time we cannot read: never a reason to fail a run


def _might_be_gone(summary, now: float) -> bool:
    if not isinstance(summary, dict) or summary.get("state") != "running":
        return False
    age = _age(summary.get("last_update", ""), now)
    return age is not None and age > stale_after(0)


def gone_reason(data: dict, now: float) -> str:
    """Why the record ``data`` belongs to a process that is gone (``""``: it does not, or we cannot tell)."""
    status, annotations = data.get("status") or {}, (data.get("metadata") or {}).get("annotations") or {}
    if not isinstance(status, dict) or not isinstance(annotations, dict) or status.get("state") != "running":
        return ""
    try:
        interval = float(annotations.get(HEARTBEAT_ANNOTATION, ""))
    except (ValueError, TypeError):
        return ""
    age = _age(status.get("last_update", ""), now)
    if status.get("state") != "running" or interval <= 0 or age is None or age <= stale_after(interval):
        return ""
    return (f"{PROCESS_GONE} (no heartbeat since {status.get('last_update')}; a running run sends one every "
            f"{interval:g}s)")


def mark_gone(db, runs: list[dict]) -> int:
    """Record as ``error`` the listed runs (summaries, updated in place) whose process is gone; how many."""
    import time

    now, marked = time.time(), 0
    for summary in runs:
        if not _might_be_gone(summary, now):
            continue
        try:
            data = db.read_run_data(summary["uid"], summary.get("iteration", 0))
            reason = gone_reason(data, now)
            if reason:
                _fail(db, data, reason)
                summary.update(state="error", error=reason, last_update=data["status"]["last_update"])
                marked += 1
        except MLRunError:  # seeing a run must not fail because marking it did: the next look tries again
            continue
    return marked


def mark_if_gone(db, data: dict) -> dict:
    """``data`` (a record just read), recorded as ``error`` first when its process is gone."""
    import time

    reason = gone_reason(data, time.time())
    if reason:
        _fail(db, data, reason)
    return data


def _fail(db, data: dict, reason: str) -> None:
    from ..model import RunRecord

    record = RunRecord.from_dict(data)
    record.fail(reason)
    record.touch()
    data.clear()
    data.update(record.to_dict())
    db.store_run_data(data)


def check_store(db) -> int:
    """A run server's periodic check: mark every running run of ``db`` whose process is gone; how many."""
    return mark_gone(db, db.list_summaries(state="running", iterations=True))


class Heartbeat:
    """Calls ``beat()`` every ``interval`` seconds from a daemon thread until ``stop()``; a failing beat is skipped
    (the store may be out for a while: the next one tries again)."""

    def __init__(self, beat, interval: float):
        import threading

        self._beat, self.interval = beat, interval
        self._stopped = threading.Event()
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="mlrun-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            if os.getpid() != self._pid:
                return
            with contextlib.suppress(Exception):  # a missed heartbeat is retried at the next interval
                self._beat()

    def stop(self) -> None:
        self._stopped.set()
