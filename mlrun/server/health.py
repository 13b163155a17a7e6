"""Is the store reachable: ``/healthz`` and ``/ready``, and the server's periodic check.

``/ready`` reaches the store now (``RunDB.check``) and answers within ``$MLRUN_SERVER_READY_TIMEOUT`` seconds
(default 5): 200 ``{"status": "ready"}``, else 503 with the reason.  ``/healthz`` answers from the last check
(``/ready``'s, or the periodic one) when it is recent, else checks: 200 ``{"status": "ok"}``, else 503
``{"status": "store unreachable", "error": ...}``.  Every ``$MLRUN_SERVER_CHECK_INTERVAL`` seconds (default 300;
0: never) each server process checks the store and records runs whose process is gone
(``mlrun.rundb.liveness``).  One check runs at a time: callers arriving meanwhile wait for its outcome, so a hung
store never piles up threads.
"""
from __future__ import annotations

import logging
import os
import threading
import time

READY_TIMEOUT_ENV = "MLRUN_SERVER_READY_TIMEOUT"
CHECK_INTERVAL_ENV = "MLRUN_SERVER_CHECK_INTERVAL"
#: a check younger than this answers ``/healthz`` without a new one
FRESH = 2.0

log = logging.getLogger("mlrun.server")


class StoreHealth:
    def __init__(self, db):
        self.db = db
        self._lock = threading.Lock()
        self._running: threading.Event | None = None
        self._last: tuple[float, str] | None = None  # (monotonic time, error or "")
        self._pid = 0

    def check(self, fresh: float = 0.0) -> str:
        """``""`` when the store answered, else why not; a check younger than ``fresh`` seconds is reused."""
        from ..config import env_seconds

        timeout = env_seconds(READY_TIMEOUT_ENV, 5.0)
        with self._lock:
            if self._last is not None and time.monotonic() - self._last[0] < fresh:
                return self._last[1]
            done = self._running
            if done is None:
                done = self._running = threading.Event()
                threading.Thread(target=self._check, args=(done,), name="mlrun-store-check", daemon=True).start()
        if not done.wait(timeout):
            return f"the run store did not answer within {timeout:g}s (${READY_TIMEOUT_ENV})"
        return self._last[1] if self._last is not None else ""

    def _check(self, done: threading.Event) -> None:
        try:
            self.db.check()
            error = ""
        except Exception as exc:  # noqa: BLE001 - whatever the store raised, it is not reachable
            error = " ".join(str(exc).split()) or type(exc).__name__
        with self._lock:
            self._last, self._running = (time.monotonic(), error), None
        done.set()

    def start_periodic(self) -> None:
        """Start this process's periodic check (once per process: a forked worker starts its own)."""
        from ..config import env_seconds

        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        interval = env_seconds(CHECK_INTERVAL_ENV, 300.0)
        if interval > 0:
            threading.Thread(target=self._periodic, args=(interval,), name="mlrun-periodic-check", daemon=True).start()

    def _periodic(self, interval: float) -> None:
        from ..rundb.liveness import check_store

        while True:
            time.sleep(interval)  # the period between checks, not a wait for a condition
            if self.check():
                continue
            try:
                marked = check_store(self.db)
                if marked:
                    log.warning("recorded %d run(s) whose process ended without recording its end", marked)
            except Exception as exc:  # noqa: BLE001 - the next period tries again
                log.error("periodic check of the run store failed: %s", " ".join(str(exc).split()))


def healthz():
    from flask import current_app

    error = current_app.config["MLRUN_HEALTH"].check(fresh=FRESH)
    if error:
        return {"status": "store unreachable", "error": error}, 503
    return {"status": "ok"}


def ready():
    from flask import current_app

    error = current_app.config["MLRUN_HEALTH"].check()
    if error:
        return {"status": "not ready", "error": error}, 503
    return {"status": "ready"}
