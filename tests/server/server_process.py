"""A real ``mlrun server`` process on 127.0.0.1 over a given store, for tests (and benchmarks)."""
from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager

from helpers import free_port, stop_process, wait_for_http

TOKEN = "t0ken-for-tests"


class Server:
    def __init__(self, url: str, store: str, proc: subprocess.Popen, log_path: str):
        self.url, self.store, self.proc, self.log_path = url, store, proc, log_path

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as fp:
            return fp.read()


@contextmanager
def running_server(store: str, token: str | None = None, args: tuple = (), env: dict | None = None,
                   log_dir: str | None = None, cwd: str | None = None):
    """``mlrun server`` in a subprocess at a free port; stopped (and its log kept) on exit.

    ``args`` are more command-line arguments (``--artifact-root DIR``...), ``env`` more environment variables;
    the log goes next to a directory ``store``, else into ``log_dir``; the server starts in ``cwd``.
    """
    port = free_port()
    server_env = {k: v for k, v in os.environ.items() if k not in ("MLRUN_TOKEN", "MLRUN_DBPATH")
                  and not k.startswith(("MLRUN_SERVER_", "MLRUN_ARTIFACT_ROOTS"))}
    server_env.update(env or {})
    if token:
        server_env["MLRUN_TOKEN"] = token
    log_path = os.path.join(log_dir or os.path.join(store, ".."), f"server-{port}.log")
    if "://" not in store:
        os.makedirs(store, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "mlrun", "server", "--port", str(port), "--store", store,
                                 "--threads", "4", *args], stdout=log, stderr=subprocess.STDOUT, env=server_env,
                                cwd=cwd)
    server = Server(f"http://127.0.0.1:{port}", store, proc, log_path)
    try:
        wait_for_http(server.url + "/healthz", proc)
        yield server
    finally:
        stop_process(proc)
