"""Every wait has a total deadline and every answer a size limit: remote functions, HTTP inputs, the HTTP run
store client and S3, against real misbehaving servers on 127.0.0.1.

The servers are plain sockets: a *drip* server sends its answer one byte a second for ever (the headers, or a
body after complete headers), a *silent* one accepts and never answers, a *big* one streams 300 MB from one
reused 1 MiB buffer.  Each records when it accepted a connection and when the caller went away, so "given up
within the deadline + 1 s" is measured where it happens, not around a process's start-up.
"""
from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time

import pytest

from helpers import mlrun_cli
from mlrun.rundb import get_run_db

MB = 1024 * 1024
HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"


class FaultServer:
    """A socket server on 127.0.0.1 whose connections are handled by ``behave(conn)`` in threads of their own.

    ``sessions`` holds ``[accepted, gone]`` monotonic times per connection; ``gone`` is set when the caller
    closed or shut down its end.
    """

    def __init__(self, behave):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.stop = threading.Event()
        self.sessions: list[list] = []
        self.behave = behave
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            session = [time.monotonic(), None]
            self.sessions.append(session)
            thread = threading.Thread(target=self._serve, args=(conn, session), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, session: list) -> None:
        with conn:
            try:
                self.behave(self, conn)
            except OSError:
                pass
            session[1] = time.monotonic()

    def caller_gone(self, conn: socket.socket, wait: float) -> bool:
        """Wait up to ``wait`` seconds (the server's pace) for the caller to close; ``True`` when it did."""
        readable, _, _ = select.select([conn], [], [], wait)
        if readable:
            while True:  # the request, then the end of the stream
                data = conn.recv(65536)
                if not data:
                    return True
                if not select.select([conn], [], [], 0)[0]:
                    return False
        return self.stop.is_set()

    def wait_gone(self, timeout: float = 60) -> float:
        """Seconds between the first connection and the caller leaving it (polls, with a bound)."""
        limit = time.monotonic() + timeout
        while time.monotonic() < limit:
            if self.sessions and self.sessions[0][1] is not None:
                return self.sessions[0][1] - self.sessions[0][0]
            time.sleep(0.02)  # polling a condition with a deadline
        raise AssertionError(f"the caller never left {self.url}")

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        for thread in self.threads[1:]:
            thread.join(5)


def drip(prefix: bytes = b""):
    """Send ``prefix`` at once, then one byte a second (of headers, or of a body when ``prefix`` has the headers)."""

    def behave(server: FaultServer, conn: socket.socket) -> None:
        conn.sendall(prefix)
        text = HEADERS if not prefix else b"{" + b" " * 10_000_000
        for byte in text:
            if server.caller_gone(conn, 1.0):
                return
            conn.sendall(bytes([byte]))
        server.caller_gone(conn, 3600)

    return behave


def silent(server: FaultServer, conn: socket.socket) -> None:
    """Accept, read what comes, never answer."""
    while not server.caller_gone(conn, 1.0):
        pass


def big(size: int, declared: bool):
    """Answer ``size`` bytes of JSON-ish text from one reused buffer, with or without a Content-Length."""
    block = b" " * MB

    def behave(server: FaultServer, conn: socket.socket) -> None:
        select.select([conn], [], [], 10)
        conn.recv(1 << 20)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {size}\r\n".encode() if declared else b"Connection: close\r\n"
        conn.sendall(head + b"\r\n")
        sent = 0
        while sent < size and not server.stop.is_set():
            conn.sendall(block[:min(MB, size - sent)])
            sent += MB
        server.caller_gone(conn, 30)

    return behave


@pytest.fixture
def fault_server():
    servers = []

    def start(behave) -> FaultServer:
        servers.append(FaultServer(behave))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


# -- remote functions ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("behave, reason", [
    (drip(), "no answer within 3s (set $MLRUN_REMOTE_TIMEOUT to wait longer)"),
    (drip(HEADERS), "no complete answer within 3s (got "),
    (silent, "no answer within 3s (set $MLRUN_REMOTE_TIMEOUT to wait longer)"),
], ids=["drip-headers", "drip-body", "silent"])
def test_a_remote_run_is_given_up_at_its_deadline(fault_server, tmp_path, behave, reason):
    server = fault_server(behave)
    url = f"{server.url}/run"
    result = mlrun_cli("run", "-p", "p1=5", "--uid", "slow0001", url, cwd=str(tmp_path),
                       env={"MLRUN_REMOTE_TIMEOUT": "3"}, timeout=60)
    assert server.wait_gone() <= 4.0
    assert len(server.sessions) == 1  # the function may be running it: never sent twice
    assert result.returncode == 1, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"Error: run slow0001 failed: {url}: ") and reason in error
    assert "Traceback" not in result.stderr
    stored = get_run_db().read_run("slow0001")["status"]
    assert stored["state"] == "error" and stored["error"].startswith(f"{url}: ") and reason in stored["error"]


def test_a_silent_function_with_the_default_deadline_is_still_bounded(fault_server, monkeypatch):
    """The default is 600 s; what matters is that the call ends at it, so shorten it in process."""
    import mlrun

    server = fault_server(silent)
    monkeypatch.setenv("MLRUN_REMOTE_TIMEOUT", "1.5")
    started = time.monotonic()
    record = mlrun.run_function(f"{server.url}/run", stream=False)
    assert time.monotonic() - started <= 2.5
    assert record.state == "error" and "no answer within 1.5s" in record.status.error


CALLER = """
import resource, sys, mlrun
record = mlrun.run_function(sys.argv[1], stream=False)
print(record.state)
print(record.status.error)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "no-length"])
def test_a_huge_answer_is_refused_without_being_held(fault_server, tmp_path, declared):
    server = fault_server(big(300 * MB, declared))
    url = f"{server.url}/run"
    proc = subprocess.run([sys.executable, "-c", CALLER, url], capture_output=True, text=True, timeout=120,
                          cwd=str(tmp_path), env={**os.environ, "MLRUN_DBPATH": str(tmp_path / "db")})
    assert proc.returncode == 0, proc.stderr
    state, error, peak = proc.stdout.strip().splitlines()[-3:]
    assert state == "error"
    assert error == f"{url}: answer larger than the limit of {64 * MB} bytes ($MLRUN_REMOTE_MAX_ANSWER)"
    assert int(peak) < 200 * MB  # 1.48 GB before: the answer was held whole, then parsed
