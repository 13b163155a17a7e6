"""The kinds that run on this machine: ``local`` (``""``), ``job`` and ``dask``.

* ``local``: a handler runs in this process (its code loaded once per function object); a function without a handler
  runs its file as a script in a child process (``mlrun.runtimes.local``).
* ``job``: in a child process (``python -m mlrun.runtimes.child``), the handler called there; a Kubernetes job is
  not available here, so ``local=True`` is implied (said once per process).  A callable handler runs in this process.
* ``dask``: as ``job``; a sweep's iterations go to the Dask executor (``spec.scheduler_address``, default a local
  cluster).
"""
from __future__ import annotations

import sys

from .base import Function

_told: set[str] = set()


def tell_once(key: str, message: str) -> None:
    """Print ``message`` to stderr the first time ``key`` comes up in this process."""
    if key not in _told:
        _told.add(key)
        print(f"mlrun: {message}", file=sys.stderr)


class LocalFunction(Function):
    kind = "local"
    label = "local"


class JobFunction(Function):
    kind = "job"
    label = "job"

    def _run_target(self, handler, local: bool, init_args=None) -> dict:
        if not local:
            tell_once(f"{self.kind}-local", f"functions of kind {self.kind!r} run on this machine "
                                            "(no Kubernetes cluster here): local=True implied")
        if handler and not callable(handler) and (self.spec.command or self.spec.build.functionSourceCode):
            return {"command": self.code_path(), "handler": handler, "args": self.spec.args}
        return super()._run_target(handler, local, init_args)  # a callable, or a module path without code


class DaskFunction(JobFunction):
    kind = "dask"
    label = "dask"

    def run(self, runspec=None, handler=None, *args, hyperparams=None, hyper_param_options=None, **kwargs):
        """``Function.run``; a sweep's iterations run on the Dask executor (``spec.scheduler_address``, else a local
        cluster)."""
        if hyperparams or getattr(runspec, "spec", None) is not None and runspec.spec.hyperparams:
            options = hyper_param_options.to_dict() if hasattr(hyper_param_options, "to_dict") else \
                dict(hyper_param_options or {})
            options.setdefault("dask_cluster_uri", self.spec.extra.get("scheduler_address") or "local")
            hyper_param_options = options
        return super().run(runspec, handler, *args, hyperparams=hyperparams, hyper_param_options=hyper_param_options,
                           **kwargs)
