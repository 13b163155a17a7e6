"""The process's own run: the current context and the hooks that end it when the process ends.

A plain ``python script.py`` that calls ``get_or_create_ctx`` owns its run: the hooks here record its end
even when the script never calls ``commit``.  What the run is recorded with:

* the script ends normally, or calls ``sys.exit()`` / ``sys.exit(0)``: ``completed``;
* ``sys.exit(3)``: ``error`` with ``script exited with code 3``; ``sys.exit("msg")``: ``error`` with ``msg``;
* an uncaught exception: ``error`` with its message;
* SIGTERM (with no handler of the script's own): ``error`` with ``terminated by SIGTERM``, then the process
  still dies of SIGTERM.

Python does not tell ``atexit`` handlers the exit code: a call to ``sys.exit`` is seen because the hooks wrap
it; a bare ``raise SystemExit(n)`` is not seen by any hook and ends the run as a normal end would.
"""
from __future__ import annotations

import atexit
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_current = None  # the process's RunContext, if it has one
_exit_code = None  # the last sys.exit(...) argument, when the script called it
_hooks_installed = False
_scope = None  # threading.local: the in-process run each thread is in (``in_process_run``)


def current():
    """The process's context (``None`` until ``get_or_create_ctx`` made one without an event or spec);
    inside ``in_process_run``, that run's."""
    scope = _scope and getattr(_scope, "run", None)
    return _current if scope is None else scope[0]


def owned_run():
    """The process's own run (a script's, a launcher's child's) while it runs; else ``None``."""
    return _owned("running")


def set_current(ctx) -> None:
    global _current
    scope = _scope and getattr(_scope, "run", None)
    if scope is not None:  # a context the handler made (``fn(spec)``) is the run's, and goes with it
        scope[0] = ctx
        return
    _current = ctx


def in_scope() -> bool:
    """Whether this thread is inside an in-process run (``in_process_run``)."""
    return bool(_scope and getattr(_scope, "run", None) is not None)


def run_defaults() -> tuple:
    """``(run store, inline secrets)`` of the in-process run this thread is in, for the context its handler makes
    from the run's spec; ``(None, {})`` outside one."""
    scope = _scope and getattr(_scope, "run", None)
    return (None, {}) if scope is None else (scope[1], scope[2])


@contextmanager
def in_process_run(ctx, rundb=None, secrets=None) -> Iterator[list]:
    """While the block runs, ``ctx`` is this thread's current context (``None``: none yet) and a context made
    in it with a spec replaces it there (the yielded ``[ctx, ...]`` tells which is current at the end); after
    it, also on an exception, the previous one is current again and nothing made inside stays."""
    global _scope
    if _scope is None:
        import threading

        _scope = threading.local()
    previous = getattr(_scope, "run", None)
    _scope.run = scope = [ctx, rundb, dict(secrets or {})]
    try:
        yield scope
    finally:
        _scope.run = previous


def reset_current() -> None:
    """Forget the process's context (tests, long-lived workers serving many runs); its heartbeat stops."""
    global _current
    heartbeat = getattr(_current, "_heartbeat", None)
    if heartbeat is not None:
        heartbeat.stop()
    _current = None


def finish_at_exit(ctx, signals: bool = False) -> None:
    """``ctx`` is the process's own run: end it when the process ends (see the module's text).

    With ``signals`` (a plain script, not a launcher's child), SIGTERM ends it too, when the script has no
    handler of its own for it.
    """
    global _hooks_installed
    ctx.owned_by_process = True
    _start_heartbeat(ctx)
    if signals:
        _end_on_sigterm()
    if _hooks_installed:
        return
    _hooks_installed = True
    previous_hook, original_exit = sys.excepthook, sys.exit

    def excepthook(exc_type, exc, tb):
        ctx = _owned("running", "completed")  # an exception after the code completed the run still fails it
        if ctx is not None:
            _finish_quietly(ctx, exc)
        previous_hook(exc_type, exc, tb)

    def exit(status=None):  # noqa: A001 - stands in for sys.exit
        global _exit_code
        _exit_code = SystemExit(status)
        original_exit(status)

    sys.excepthook, sys.exit = excepthook, exit
    atexit.register(_at_exit)


def _start_heartbeat(ctx) -> None:
    """While the run is running, its process refreshes the stored record (``mlrun.rundb.liveness``)."""
    from .rundb.liveness import HEARTBEAT_ANNOTATION, Heartbeat, heartbeat_interval

    interval = heartbeat_interval()
    if interval > 0 and getattr(ctx, "_heartbeat", None) is None:
        ctx.annotations.setdefault(HEARTBEAT_ANNOTATION, f"{interval:g}")
        if ctx._rundb is None:  # the store the run began in: the beats never follow a changed environment
            from .config import default_dbpath

            ctx._rundb = default_dbpath()
        ctx._heartbeat = Heartbeat(ctx.heartbeat, interval)


def _at_exit() -> None:
    ctx = _owned("running")
    if ctx is not None:
        _finish_quietly(ctx, _exit_code)  # None or sys.exit's SystemExit: finish() tells 0 from a failing code


def _owned(*states):
    ctx = _current
    return ctx if ctx is not None and getattr(ctx, "owned_by_process", False) and ctx.state in states else None


def _end_on_sigterm() -> None:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return  # the script (or what runs it) handles SIGTERM itself

    def on_sigterm(signum, frame):
        ctx = _owned("running")
        if ctx is not None:
            _finish_quietly(ctx, "terminated by SIGTERM")
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)  # die of SIGTERM, as the process would have without this handler

    signal.signal(signal.SIGTERM, on_sigterm)


def _finish_quietly(ctx, error) -> None:
    try:
        ctx.finish(error)
    except Exception as exc:  # the interpreter is going down: say it in one line, don't dump a traceback
        print(f"mlrun: could not record run {ctx.uid}: {ctx.mask(str(exc))}", file=sys.stderr)
