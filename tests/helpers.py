"""Shared test helpers: free ports, CLI runs in subprocesses, waiting for servers."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED_EXAMPLE = os.path.join(ROOT, "examples", "example1.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mlrun_cli(*args: str, cwd: str | None = None, env: dict | None = None, input: str | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m mlrun ARGS`` in a fresh process and capture its output as text."""
    return subprocess.run([sys.executable, "-m", "mlrun", *args], cwd=cwd, env={**os.environ, **(env or {})},
                          input=input, capture_output=True, text=True, timeout=timeout)


def terminal_reader(master: int):
    """Read a pseudo-terminal's ``master`` side from a thread until its last writer is gone; the returned
    function waits for that and gives what was written, decoded (``\r\n`` as the terminal shows it)."""
    screen = []

    def drain():
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's last writer is gone
                break
            if not data:
                break
            screen.append(data)

    reader = threading.Thread(target=drain)
    reader.start()

    def finish(timeout: float = 30) -> str:
        reader.join(timeout=timeout)
        os.close(master)
        return b"".join(screen).decode("utf-8", "replace")

    return finish


def run_python(code: str, *args: str, timeout: float = 120, **options) -> subprocess.CompletedProcess:
    """Run ``python -c CODE ARGS`` in a fresh process (a clean ``sys.modules``) and capture its output as text."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                          **options)


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server on 127.0.0.1 at a free port, serving ``handler`` from a thread until ``close()``."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        super().__init__(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server_port}"
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


def wait_for_http(url: str, proc: subprocess.Popen | None = None, timeout: float = 30) -> None:
    """Poll ``url`` until it answers (any status); fail early if ``proc`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise RuntimeError(f"server exited with code {proc.returncode}: {out}")
        try:
            requests.get(url, timeout=1)
            return
        except (requests.ConnectionError, requests.Timeout):
            # a port not open yet, or a server still starting on a busy machine (parallel tests): poll again
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def poll(condition, timeout: float = 30, what: str = "condition"):
    """Wait until ``condition()`` is truthy (and return it), polling; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie (dead, not yet reaped by its new parent) counts as gone
    try:
        with open(f"/proc/{pid}/stat") as fp:
            return fp.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True
