"""Runtimes: how a run is executed.  Each one takes a run record and secrets and returns the final record.

A target with ``http://`` or ``https://`` is a remote function; a Python callable runs in this process
(``inproc``); anything else is a local file run in a child process.  ``register_runtime`` adds kinds (by URL scheme).
"""
from __future__ import annotations

from ..context import get_or_create_ctx  # where the seed's examples import it from
from ..registry import Registry
from .base import RunOutcome, Runtime

__all__ = ["Runtime", "RunOutcome", "get_runtime", "register_runtime", "get_or_create_ctx", "run_start"]

#: names 2019 code imports from here that live a layer up (``from mlrun.runtimes import run_start``): loaded on use
_UPPER = {"run_start": "mlrun.run:run_start"}


def __getattr__(name: str):
    if name in _UPPER:
        from ..registry import load

        return load(_UPPER[name])
    raise AttributeError(f"module 'mlrun.runtimes' has no attribute {name!r}")

#: scheme -> (``Runtime`` class or "module:Class", pip extra); "" is a local file
RUNTIMES = Registry("running a {name}:// target", "mlrun.runtimes", {
    "": ("mlrun.runtimes.local:LocalRuntime", ""),
    ("http", "https"): ("mlrun.runtimes.remote:RemoteRuntime", "http"),
})


def register_runtime(scheme: str, runtime: str | type, extra: str = "") -> None:
    RUNTIMES.register(scheme, runtime, extra)


def runtime_kind(target: str) -> str:
    return target.split("://", 1)[0].lower() if "://" in target else ""


def get_runtime(target) -> Runtime:
    """The runtime for ``target``: a file path, a function URL, or a Python callable (run in this process)."""
    from ..errors import InvalidInputError

    if callable(target):
        from .inproc import InProcessRuntime

        return InProcessRuntime(target)
    kind = runtime_kind(target)
    if kind not in RUNTIMES:
        raise InvalidInputError(f"cannot run {target!r}: unknown scheme {kind!r} "
                                f"(expected a file or one of: {', '.join(k + '://' for k in RUNTIMES.names() if k)})")
    return RUNTIMES.get(kind)(target)
