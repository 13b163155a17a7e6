"""Progress bars for long transfers, drawn only for a person watching a terminal.

A bar appears for transfers of ``MIN_BYTES`` or more when stderr is a terminal.  A local run's
code has pipes, not a terminal: the launcher then hands the child a separate descriptor
(``MLRUN_PROGRESS_FD``) that it copies to its own terminal, so bars are seen but never land in
the run's stored log.  ``MLRUN_PROGRESS=0`` turns bars off; ``mlrun run --quiet`` never asks for them.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..config import PROGRESS_FD_ENV

#: smaller transfers end before a bar would be worth drawing
MIN_BYTES = 4 * 1024 * 1024
#: "0" turns progress bars off
PROGRESS_ENV = "MLRUN_PROGRESS"

_launcher_stream = None


def adopt_launcher_stream() -> None:
    """In a launched child: draw bars on the descriptor the launcher passed.

    The variable is removed at once so processes the run code starts do not mistake some
    other descriptor of theirs for it.
    """
    global _launcher_stream
    fd = os.environ.pop(PROGRESS_FD_ENV, "")
    if fd.isdigit():
        try:
            _launcher_stream = os.fdopen(int(fd), "w", encoding="utf-8", errors="replace")
        except OSError:
            _launcher_stream = None


def _bar_stream():
    if os.environ.get(PROGRESS_ENV, "").lower() in ("0", "false", "no", "off"):
        return None
    if _launcher_stream is not None:
        return _launcher_stream
    try:
        return sys.stderr if sys.stderr is not None and sys.stderr.isatty() else None
    except (AttributeError, ValueError):  # replaced or closed stderr
        return None


@contextmanager
def transfer_progress(desc: str, size: int | Callable[[], int]) -> Iterator[Callable[[int], object] | None]:
    """Yields ``update(nbytes)`` feeding a bar, or ``None`` when no bar is shown.

    ``size`` may be a callable, asked only when a bar could be shown (it may cost a request).
    """
    stream = _bar_stream()
    total = 0
    if stream is not None:
        try:
            total = size() if callable(size) else size
        except Exception:  # no size, no bar: the transfer itself reports real errors
            total = 0
    if total < MIN_BYTES:
        yield None
        return
    try:
        from tqdm import tqdm
    except ImportError:  # bars are a nicety: mlrun-lite[s3] brings tqdm
        yield None
        return
    with tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, file=stream,
              mininterval=0.2, dynamic_ncols=True) as bar:
        yield bar.update
