"""Per-request capture of the process's stdout and stderr (``mlrun serve``, the nuclio adapter).

A threaded server runs several handlers at once, all printing to the one ``sys.stdout``.
``capture_output()`` routes ``sys.stdout`` and ``sys.stderr`` writes made in the current thread
(or asyncio task) into a buffer of its own; writes from anywhere else reach the real streams.  The
streams are the secrets' masking streams (``mlrun.secrets.MaskedStream``), which mask every secret
value registered in the process: what a request's buffer gets is masked too.
"""
from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager

from ..secrets import install_streams, output_route, request_values


def install() -> None:
    """Route sys.stdout and sys.stderr through the capture and masking (idempotent)."""
    install_streams()


@contextmanager
def capture_output() -> Iterator[io.StringIO]:
    """Collect this thread's (or task's) stdout and stderr until the block ends."""
    install()
    buffer = io.StringIO()
    token, scope = output_route.set(buffer), request_values.set(None)  # a request's secrets end with it
    try:
        yield buffer
    finally:
        request_values.reset(scope)
        output_route.reset(token)


def print_exception(exc: BaseException, out) -> None:
    """Write the traceback of ``exc`` to ``out``, leaving out the adapters' own frames."""
    import traceback

    here = os.path.dirname(os.path.abspath(__file__))
    tb = traceback.TracebackException.from_exception(exc)
    tb.stack = traceback.StackSummary.from_list(
        [f for f in tb.stack if os.path.dirname(os.path.abspath(f.filename)) != here])
    out.write("".join(tb.format()))
