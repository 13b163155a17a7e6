"""Helpers for the remote-function tests: a work folder with the seed's files, and `mlrun serve` processes."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from helpers import ROOT, free_port, stop_process, wait_for_http

HERE = os.path.dirname(os.path.abspath(__file__))
SEED_HANDLERS = os.path.join(ROOT, "handlers", "seed.py")
SEED_NUCLIO = os.path.join(ROOT, "handlers", "seed_nuclio.py")
SEED_VERBATIM = os.path.join(HERE, "seed_function.py")
ACCESS_KEY = "remote-access-key-7f3e9"
INFILE_TEXT = "hello from infile.txt\n"
#: the bucket the shared seed server is allowed to use (``--allow s3://mlrun-remote-seed``)
SEED_BUCKET = "mlrun-remote-seed"


class Workdir:
    """A folder with the seed's inputs: ``secrets.txt`` (ACCESS_KEY), ``infile.txt``, ``chart.png``."""

    def __init__(self, path: str):
        self.path = path
        self.secrets = os.path.join(path, "secrets.txt")
        self.infile = os.path.join(path, "infile.txt")
        with open(self.secrets, "w") as fp:
            fp.write(f"ACCESS_KEY={ACCESS_KEY}\n")
        with open(self.infile, "w") as fp:
            fp.write(INFILE_TEXT)
        with open(os.path.join(path, "chart.png"), "wb") as fp:
            fp.write(b"\x89PNG\r\n\x1a\n-a chart-")


class Served:
    """An ``mlrun serve`` process on 127.0.0.1; ``output`` collects its stdout and stderr lines."""

    def __init__(self, proc: subprocess.Popen, url: str):
        self.proc, self.url = proc, url
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.output.append(line)

    def stop(self) -> str:
        """Stop the server; everything it wrote."""
        stop_process(self.proc)
        self._reader.join(10)
        return "".join(self.output)


@contextmanager
def serving(target: str, *args: str, cwd: str, env: dict | None = None,
            command: list[str] | None = None) -> Iterator[Served]:
    """Run ``mlrun serve TARGET ARGS`` (or ``command``) in ``cwd`` at a free port until the block ends."""
    port = free_port()
    command = command or [sys.executable, "-m", "mlrun", "serve", target, "--port", str(port), *args]
    # 127.0.0.1 and a free port whatever ``env`` says: tests listen nowhere else
    # the folder these tests serve from is the function's output path (the operator's choice: without it a
    # served function writes to a fresh folder of its own, see tests/security/test_round2_serve.py)
    run_env = {**os.environ, "MLRUN_HOME": os.path.join(cwd, "function-home"), "MLRUN_OUT_PATH": cwd, **(env or {}),
               "MLRUN_SERVE_PORT": str(port), "MLRUN_SERVE_HOST": "127.0.0.1"}
    for name in ("MLRUN_DBPATH", "MLRUN_FUNCTION_TOKEN"):  # the function keeps its own store and token
        if name not in (env or {}):
            run_env.pop(name, None)
    proc = subprocess.Popen(command, cwd=cwd, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/healthz", proc)
        served = Served(proc, url)
    except BaseException:
        stop_process(proc)
        raise
    try:
        yield served
    finally:
        served.stop()
