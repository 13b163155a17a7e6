"""Per-request output capture: what a handler prints becomes its run's log.

A threaded server runs several handlers at once, all printing to the one ``sys.stdout``.
``capture_output()`` routes ``sys.stdout`` and ``sys.stderr`` writes made in the current thread
(or asyncio task) into a buffer of its own; writes from anywhere else reach the real streams.
"""
from __future__ import annotations

import io
import os
import sys
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

_buffer: ContextVar[io.StringIO | None] = ContextVar("mlrun_output_buffer", default=None)
_install_lock = threading.Lock()


class _RoutingStream:
    """Stands in for ``sys.stdout``/``sys.stderr``: writes go to the capturing buffer, if any."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        buffer = _buffer.get()
        if buffer is None:
            return self.stream.write(text)
        return buffer.write(text)

    def flush(self) -> None:
        if _buffer.get() is None:
            self.stream.flush()

    def __getattr__(self, name: str):  # encoding, fileno, isatty, buffer, ...
        return getattr(self.stream, name)


def install() -> None:
    """Route sys.stdout and sys.stderr through the capture (idempotent; ``capture_output`` calls it)."""
    # checked on every capture: test runners and embedding servers swap sys.stdout behind our back
    if isinstance(sys.stdout, _RoutingStream) and isinstance(sys.stderr, _RoutingStream):
        return
    with _install_lock:
        if not isinstance(sys.stdout, _RoutingStream):
            sys.stdout = _RoutingStream(sys.stdout)
        if not isinstance(sys.stderr, _RoutingStream):
            sys.stderr = _RoutingStream(sys.stderr)


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
