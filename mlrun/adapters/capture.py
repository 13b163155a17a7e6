"""The process's stdout and stderr: per-request capture, and secrets masked.

A threaded server runs several handlers at once, all printing to the one ``sys.stdout``.
``capture_output()`` routes ``sys.stdout`` and ``sys.stderr`` writes made in the current thread
(or asyncio task) into a buffer of its own; writes from anywhere else reach the real streams.
The same stream masks every secret value registered in the process (``mlrun.secrets.register``),
whichever thread writes and whether or not its run has ended.  Towards the real stream it holds back
at most an end of the text that could begin a secret, until the next write, a flush or exit, so a
secret written in pieces hides as well.
"""
from __future__ import annotations

import io
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from .. import secrets

_buffer: ContextVar[io.StringIO | None] = ContextVar("mlrun_output_buffer", default=None)
_install_lock = threading.Lock()


class _RoutingStream:
    """Stands in for ``sys.stdout``/``sys.stderr``: writes go to the capturing buffer, if any, secrets masked."""

    def __init__(self, stream):
        self.stream = stream
        self._held = ""  # an end of the text written that could begin a secret
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        buffer = _buffer.get()
        if not secrets._view[0]:  # no secrets known: the plain path, nothing added
            if buffer is None:
                return self.stream.write(text) if not self._held else self._write_masked(text)
            return buffer.write(text)
        if buffer is not None:  # the run's log: masked whole once more when the run ends
            buffer.write(secrets.mask_output(text))
            return len(text)
        return self._write_masked(text)

    def _write_masked(self, text: str) -> int:
        with self._lock:  # the held end and the text that completes it must go out in order
            masked = secrets.mask_output(self._held + text) if self._held else secrets.mask_output(text)
            keep = secrets.held_tail(masked)
            self._held = masked[len(masked) - keep:] if keep else ""
            if len(masked) > keep:
                self.stream.write(masked[:len(masked) - keep])
        return len(text)

    def writelines(self, lines) -> None:  # not passed through: the lines must be routed and masked too
        for line in lines:
            self.write(line)

    def release(self) -> None:
        """Write out what is held back (it is not a secret, or not all of one)."""
        if self._held:
            with self._lock:
                held, self._held = self._held, ""
                if held:
                    self.stream.write(held)

    def flush(self) -> None:
        if _buffer.get() is None:
            self.release()
            self.stream.flush()

    def __getattr__(self, name: str):  # encoding, fileno, isatty, buffer, ...
        return getattr(self.stream, name)


_installed: list = []


def install() -> None:
    """Route sys.stdout and sys.stderr through the capture and masking (idempotent).

    ``capture_output`` and ``mlrun.secrets.register`` call it; whatever ``sys.stdout`` is (a console,
    a notebook's stream, a test runner's capture) gets wrapped.
    """
    # checked on every call: test runners, notebooks and embedding servers swap sys.stdout behind our back
    if isinstance(sys.stdout, _RoutingStream) and isinstance(sys.stderr, _RoutingStream):
        return
    with _install_lock:
        if not _installed:
            import atexit

            atexit.register(_release_all)  # what is held back still reaches the console at exit
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if stream is not None and not isinstance(stream, _RoutingStream):
                wrapper = _RoutingStream(stream)
                setattr(sys, name, wrapper)
                _installed.append(wrapper)
                del _installed[:-8]  # the current ones matter; a few replaced ones may still be held by someone


def _release_all() -> None:
    for stream in list(_installed):
        try:
            stream.release()
            stream.stream.flush()
        except (OSError, ValueError):  # a closed stream at exit: nothing more can reach it
            pass


@contextmanager
def capture_output() -> Iterator[io.StringIO]:
    """Collect this thread's (or task's) stdout and stderr until the block ends."""
    install()
    buffer = io.StringIO()
    token = _buffer.set(buffer)
    try:
        yield buffer
    finally:
        _buffer.reset(token)


def print_exception(exc: BaseException, out) -> None:
    """Write the traceback of ``exc`` to ``out``, leaving out the adapters' own frames."""
    import traceback

    here = os.path.dirname(os.path.abspath(__file__))
    tb = traceback.TracebackException.from_exception(exc)
    tb.stack = traceback.StackSummary.from_list(
        [f for f in tb.stack if os.path.dirname(os.path.abspath(f.filename)) != here])
    out.write("".join(tb.format()))
