"""Where iterations run: a local pool (the default) or a Dask cluster.

An executor only starts work; each iteration is still an ordinary run of its runtime (a child
process for a file, an HTTP call for a function URL).  So one pool of threads serves both local
files and remote fan-out (threads wait on processes or sockets, not on the GIL), and a Dask worker
does exactly what a pool thread does, on another machine if the cluster has them.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable

#: in-flight calls to a function URL when --parallel is not given: the serverless platform scales out
REMOTE_CONCURRENCY = 8


class Executor(ABC):
    """Runs callables concurrently; use as a context manager."""

    #: how many iterations a sweep keeps in flight here
    slots: int = 1
    #: iterations may run on other machines, in other working directories: paths must travel resolved
    remote_workers: bool = False

    @abstractmethod
    def submit(self, fn: Callable, *args, key: str = ""):
        """Start ``fn(*args)``; returns a future with ``result()`` and ``add_done_callback(fn)``."""

    def close(self) -> None:  # noqa: B027 - optional: most implementations have nothing to do
        """Release the executor's resources (a pool first waits for the threads it started)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PoolExecutor(Executor):
    """``slots`` threads in this process, each waiting on one run at a time."""

    def __init__(self, slots: int):
        from concurrent.futures import ThreadPoolExecutor

        self.slots = max(1, slots)
        self._pool = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="mlrun-iteration")

    def submit(self, fn: Callable, *args, key: str = ""):
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class DaskExecutor(Executor):
    """A dask.distributed cluster: ``"local"`` starts a LocalCluster on this machine, an address joins one.

    The LocalCluster's workers are threads of this process: each iteration is a process of its own
    already, and worker processes would only add seconds of start-up.  Joining a cluster needs mlrun
    on the workers; a file's content travels with each task (``ShippedScript``), and so do secret
    values, as they do to a local child process.
    """

    def __init__(self, address: str = "local", slots: int = 0):
        import logging

        require_dask()
        from distributed import Client, LocalCluster

        self._cluster = None
        # dask logs its own shutdown (tracebacks of closed in-process comms among them) at INFO:
        # noise for a sweep's user, and LocalCluster's silence_logs ends before its own close
        self._quiet = logging.getLogger("distributed")
        self._level = self._quiet.level
        self._quiet.setLevel(logging.ERROR)
        if address == "local":
            # the scheduler's and workers' status pages would listen on every interface by default
            self._cluster = LocalCluster(n_workers=slots or os.cpu_count() or 1, threads_per_worker=1, processes=False,
                                         dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0",
                                         silence_logs=logging.CRITICAL)
            self._client = Client(self._cluster)
        else:
            self._client = Client(address, timeout="10s")
            self.remote_workers = True
        self.slots = slots or max(1, sum(self._client.nthreads().values()))

    def submit(self, fn: Callable, *args, key: str = ""):
        return self._client.submit(fn, *args, key=key or None, pure=False)  # key names the task on the dashboard

    def close(self) -> None:
        try:
            self._client.close()
            if self._cluster is not None:
                self._cluster.close()
        finally:
            self._quiet.setLevel(self._level)


class ShippedScript:
    """A local file's iteration for a worker that may not see the caller's files: the script travels with the task.

    Built on the caller's side (the path made absolute there, the content read there); on the worker,
    the file at that path runs when it has the same content, else a copy of the content in a
    temporary folder.  Either way the iteration's record names the caller's file.
    """

    kind = "local"

    def __init__(self, path: str):
        self.target = os.path.abspath(path)
        with open(self.target, "rb") as fp:
            self.content = fp.read()

    def run(self, record, secrets, rundb: str, stream: bool = False):
        import shutil
        import tempfile

        from ..runtimes.local import LocalRuntime

        record = record.copy()
        folder = ""
        path = self.target
        if not self._visible():
            folder = tempfile.mkdtemp(prefix="mlrun-shipped-")
            path = os.path.join(folder, os.path.basename(self.target))
            with open(path, "wb") as fp:
                fp.write(self.content)
        record.spec.runtime = {**record.spec.runtime, "command": path}
        try:
            outcome = LocalRuntime(path).run(record, secrets, rundb, stream)
        finally:
            if folder:
                shutil.rmtree(folder, ignore_errors=True)
        outcome.record.spec.runtime["command"] = self.target
        return outcome

    def _visible(self) -> bool:
        try:
            with open(self.target, "rb") as fp:
                return fp.read() == self.content
        except OSError:
            return False


def absolute_local(url: str) -> str:
    """``url`` made absolute on this side when it is a local path (URLs and ``""`` as they are)."""
    if not url or "://" in url:
        return url
    return os.path.abspath(os.path.expanduser(url))


def get_executor(dask: str = "", parallel: int = 0, remote: bool = False) -> Executor:
    """The executor a sweep asked for: Dask when ``dask`` is set, else a local pool.

    ``parallel`` (0: default) bounds the iterations in flight: the CPU count for local files,
    ``REMOTE_CONCURRENCY`` for a function URL, the cluster's threads for Dask.
    """
    if dask:
        return DaskExecutor(dask, parallel)
    return PoolExecutor(parallel or (REMOTE_CONCURRENCY if remote else os.cpu_count() or 1))


def require_dask() -> None:
    """Fail before anything runs when dask.distributed is not installed."""
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        from ..registry import missing_dependency

        raise missing_dependency("--dask", "dask.distributed", "dask")
