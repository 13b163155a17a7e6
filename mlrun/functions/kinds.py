"""The one registry of function kinds: ``kind`` -> the class of its function objects.

Built-in kinds: ``""`` / ``local`` (runs in this process, a file without handler in a child process), ``job`` (a
child process here: no Kubernetes), ``dask`` (a sweep's iterations on the Dask executor), ``nuclio`` / ``remote`` (a
served function: ``fn.deploy()``).  Another package adds a kind in one of three ways, each naming a subclass of
``mlrun.functions.Function`` by ``"module:Class"`` (imported on first use, so ``import mlrun`` stays cheap):

* a line in ``FUNCTION_KINDS`` below (packages of this project: ``"serving": ("mlrun.serving:ServingFunction",
  "server")``, the second item the pip extra its dependencies come from);
* ``register_kind("serving", "mlrun.serving:ServingFunction", extra="server")`` at run time;
* the entry-point group ``mlrun.function_kinds`` (``serving = "mypkg.serving:ServingFunction"``), for third parties.

``new_function(kind=...)``, ``import_function`` and ``code_to_function`` all make their objects through
``function_class(kind)``.
"""
from __future__ import annotations

from ..registry import Registry

#: kind -> (``Function`` subclass or ``"module:Class"``, pip extra)
FUNCTION_KINDS = Registry("functions of kind {name!r}", "mlrun.function_kinds", {
    ("", "local"): ("mlrun.functions.local:LocalFunction", ""),
    "job": ("mlrun.functions.local:JobFunction", ""),
    "dask": ("mlrun.functions.local:DaskFunction", "dask"),
    "nuclio": ("mlrun.functions.nuclio:NuclioFunction", "server"),
    "remote": ("mlrun.functions.nuclio:RemoteFunction", "server"),
    "serving": ("mlrun.serving.function:ServingFunction", ""),
})


def register_kind(kind: str, function_class: str | type, extra: str = "") -> None:
    """Make ``new_function(kind=kind)`` build ``function_class`` (a ``Function`` subclass or ``"module:Class"``)."""
    FUNCTION_KINDS.register(kind, function_class, extra)


def function_class(kind: str) -> type:
    """The class of functions of ``kind``; ``MLRunInvalidArgumentError`` naming the known kinds for another."""
    from ..errors import MLRunInvalidArgumentError

    kind = kind or ""
    if kind not in FUNCTION_KINDS:
        known = ", ".join(repr(k) for k in FUNCTION_KINDS.names())
        raise MLRunInvalidArgumentError(f"unknown function kind {kind!r} (expected one of: {known})")
    return FUNCTION_KINDS.get(kind)
