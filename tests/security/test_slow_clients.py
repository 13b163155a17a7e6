"""Slow and huge clients against real ``mlrun server`` and ``mlrun serve`` processes on 127.0.0.1.

An unauthenticated request with a huge body is answered from its headers (401, one line) and its body is
never read nor spooled to disk; connections that drip their request a byte at a time, or stay silent, are
closed after their deadlines; 200 of them at once leave ``/healthz`` answering within a second.
"""
from __future__ import annotations

import json
import os
import selectors
import socket
import sys
import threading
import time
from contextlib import contextmanager

import pytest
import requests
from helpers import ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
sys.path.insert(0, os.path.join(ROOT, "tests", "remote"))
from remote_helpers import SEED_HANDLERS, serving  # noqa: E402
from server_process import TOKEN, running_server  # noqa: E402

HUGE = 200 * 1024 * 1024


@contextmanager
def a_server(kind: str, tmp_path, env: dict | None = None, token: str | None = TOKEN):
    """``mlrun server`` or ``mlrun serve`` (the seed's handler) on 127.0.0.1; yields ``(url, pid)``."""
    env = {"TMPDIR": str(tmp_path), **(env or {})}
    if kind == "server":
        with running_server(str(tmp_path / "store"), token=token, env=env) as srv:
            yield srv.url, srv.proc.pid
    else:
        env = {**env, **({"MLRUN_FUNCTION_TOKEN": token} if token else {})}
        with serving(f"{SEED_HANDLERS}:my_func", cwd=str(tmp_path), env=env) as srv:
            yield srv.url, srv.proc.pid


def address(url: str) -> tuple[str, int]:
    host, port = url.rsplit("//", 1)[1].split(":")
    return host, int(port)


def spooled_bytes(pid: int, folder) -> int:
    """Bytes in the files process ``pid`` holds open under ``folder`` (unlinked temporary files included)."""
    total = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(str(folder)):
                total += os.stat(f"/proc/{pid}/fd/{fd}").st_size
        except OSError:  # closed meanwhile
            pass
    return total


def read_answer(sock: socket.socket, timeout: float = 10) -> bytes:
    """Everything the server sends until it closes the connection (or ``timeout`` passes)."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.parametrize("kind", ["server", "serve"])
def test_an_unauthenticated_huge_body_is_refused_from_its_headers_and_never_spooled(kind, tmp_path):
    path = "/api/runs/huge1" if kind == "server" else "/"
    method = "PUT" if kind == "server" else "POST"
    with a_server(kind, tmp_path) as (url, pid):
        sock = socket.create_connection(address(url), timeout=10)
        with sock:
            sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         f"Accept: application/json\r\nContent-Length: {HUGE}\r\n\r\n".encode())
            answer = read_answer(sock)  # no byte of the body was sent: the answer cannot wait for it
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 401"), answer[:300]
        assert b"www-authenticate: bearer" in head.lower()
        assert json.loads(body)["error"].startswith("missing or wrong")

        # a client that sends its body anyway: the server reads none of it into a file, and hangs up
        sock = socket.create_connection(address(url), timeout=10)
        sent, refused = 0, False
        with sock:
            sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {HUGE}\r\n\r\n".encode())
            chunk = b"{" * (1024 * 1024)
            try:
                while sent < 64 * chunk.__len__():
                    sock.sendall(chunk)
                    sent += len(chunk)
                    assert spooled_bytes(pid, tmp_path) < 1024 * 1024
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                refused = True
        assert refused, f"the server took {sent} bytes of an unauthenticated body"
        assert requests.get(url + "/healthz", timeout=5).status_code == 200
        # with the token, a body is read as before
        answer = requests.request(method, url + path, data=b"{}", timeout=30, headers={
            "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        assert answer.status_code != 401


def test_unauthenticated_bodies_to_public_pages_are_small(tmp_path):
    with a_server("server", tmp_path) as (url, _):
        sock = socket.create_connection(address(url), timeout=10)
        with sock:
            sock.sendall(f"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: {HUGE}\r\n\r\n".encode())
            head, _, body = read_answer(sock).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413")
        assert "without a token" in json.loads(body)["error"]
        login = requests.post(url + "/login", data={"token": TOKEN, "next": "/"}, allow_redirects=False, timeout=10)
        assert login.status_code == 302


class Drippers:
    """``count`` connections to ``url`` from one thread, each sending a request one byte every ``every``
    seconds; a connection the server closes is opened again (``closed`` counts them)."""

    REQUEST = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nX-Pad: " + b"a" * 100000

    def __init__(self, url: str, count: int, every: float = 0.5):
        self.address, self.count, self.every = address(url), count, every
        self.closed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)

    def _open(self, selector, opened: dict) -> None:
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(self.address)
        opened[sock] = 0
        selector.register(sock, selectors.EVENT_READ)

    def _run(self) -> None:
        selector, opened = selectors.DefaultSelector(), {}
        for _ in range(self.count):
            self._open(selector, opened)
        while not self._stop.is_set():
            for key, _ in selector.select(timeout=self.every):
                sock = key.fileobj
                try:
                    data = sock.recv(4096)
                except OSError:
                    data = b""
                if not data:  # the server hung up on us: a slow client gives up nothing, it comes back
                    selector.unregister(sock)
                    opened.pop(sock)
                    sock.close()
                    self.closed += 1
                    self._open(selector, opened)
            for sock, sent in list(opened.items()):
                try:
                    sock.send(self.REQUEST[sent % len(self.REQUEST):][:1])
                    opened[sock] = sent + 1
                except OSError:
                    pass  # still connecting, or closed: the read side notices
        for sock in opened:
            sock.close()


@pytest.mark.parametrize("kind", ["server", "serve"])
def test_two_hundred_dripping_connections_leave_the_health_check_answering(kind, tmp_path):
    env = {"MLRUN_HTTP_HEADER_TIMEOUT": "5"}
    with a_server(kind, tmp_path, env=env) as (url, _), Drippers(url, 200) as drippers:
        slowest, deadline = 0.0, time.monotonic() + 20
        while time.monotonic() < deadline:
            started = time.monotonic()
            assert requests.get(url + "/healthz", timeout=5).json() == {"status": "ok"}
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.2)  # paces the probes; the server is not waited for
        assert slowest < 1.0
        assert drippers.closed >= 200  # each dripping request was cut at its header deadline, at least once


@pytest.mark.parametrize("kind", ["server", "serve"])
def test_silent_and_slow_bodies_are_closed_after_their_deadlines(kind, tmp_path):
    env = {"MLRUN_HTTP_HEADER_TIMEOUT": "2", "MLRUN_HTTP_IDLE_TIMEOUT": "2"}
    with a_server(kind, tmp_path, env=env, token=None) as (url, _):
        silent = socket.create_connection(address(url), timeout=15)
        slow_body = socket.create_connection(address(url), timeout=15)
        path = "/api/runs/slow1" if kind == "server" else "/"
        method = "PUT" if kind == "server" else "POST"
        slow_body.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n{{".encode())
        started = time.monotonic()
        with silent, slow_body:
            assert read_answer(silent, 15) == b""
            assert read_answer(slow_body, 15) == b""
            assert time.monotonic() - started < 12
        assert requests.get(url + "/healthz", timeout=5).status_code == 200
