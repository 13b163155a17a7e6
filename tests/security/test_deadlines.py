"""Every wait has a total deadline and every answer a size limit: remote functions, HTTP inputs, the HTTP run
store client and S3, against real misbehaving servers on 127.0.0.1.

The servers are plain sockets: a *drip* server sends its answer one byte a second for ever (the headers, or a
body after complete headers), a *silent* one accepts and never answers, a *big* one streams 300 MB from one
reused 1 MiB buffer.  Each records when it accepted a connection and when the caller went away, so "given up
within the deadline + 1 s" is measured where it happens, not around a process's start-up.
"""
from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time

import pytest
from helpers import LoopbackHTTPServer, mlrun_cli, run_python

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
            with contextlib.suppress(OSError):
                self.behave(self, conn)
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
    stored = get_run_db().read_run_data("slow0001")["status"]
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


# the peak of this program's own memory: VmHWM (ru_maxrss would count the forking test process's size, kept
# by Linux across exec)
PEAK = "print([int(line.split()[1]) * 1024 for line in open('/proc/self/status') if line.startswith('VmHWM')][0])"
CALLER = f"""
import sys, mlrun
record = mlrun.run_function(sys.argv[1], stream=False)
print(record.state)
print(record.status.error)
{PEAK}
"""


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "no-length"])
def test_a_huge_answer_is_refused_without_being_held(fault_server, tmp_path, declared):
    server = fault_server(big(300 * MB, declared))
    url = f"{server.url}/run"
    proc = run_python(CALLER, url, timeout=120, cwd=str(tmp_path),
                      env={**os.environ, "MLRUN_DBPATH": str(tmp_path / "db")})
    assert proc.returncode == 0, proc.stderr
    state, error, peak = proc.stdout.strip().splitlines()[-3:]
    assert state == "error"
    assert error == f"{url}: answer larger than the limit of {64 * MB} bytes ($MLRUN_REMOTE_MAX_ANSWER)"
    assert int(peak) < 64 * MB + 64 * MB  # the limit and the interpreter; 1.48 GB before (held whole, then parsed)


# -- HTTP inputs --------------------------------------------------------------------------------------------------
READER = """
import mlrun

ctx = mlrun.get_or_create_ctx("reader")
print(len(ctx.get_input("x").get()))
"""


@pytest.mark.parametrize("behave, reason", [
    (drip(), "no answer within 2s (set $MLRUN_HTTP_TIMEOUT to wait longer)"),
    (drip(HEADERS), "no complete answer within 2s (got "),
    (silent, "no answer within 2s (set $MLRUN_HTTP_TIMEOUT to wait longer)"),
], ids=["drip-headers", "drip-body", "silent"])
def test_an_http_input_is_given_up_at_its_deadline(fault_server, tmp_path, behave, reason):
    server = fault_server(behave)
    (tmp_path / "reader.py").write_text(READER)
    url = f"{server.url}/f"
    result = mlrun_cli("run", "--uid", "input001", "-i", f"x={url}", "reader.py", cwd=str(tmp_path),
                       env={"MLRUN_HTTP_TIMEOUT": "2"}, timeout=60)
    assert server.wait_gone() <= 3.0
    assert len(server.sessions) == 1  # no retry once the deadline passed
    assert result.returncode == 1
    stored = get_run_db().read_run_data("input001")["status"]
    assert stored["state"] == "error" and f"{url}: {reason}" in stored["error"]
    assert f"{url}: {reason}" in result.stderr.strip().splitlines()[-1]


def test_a_streamed_http_input_is_cut_at_its_deadline(fault_server, monkeypatch, tmp_path):
    from mlrun.datastore import get_item
    from mlrun.transport import DeadlineExceeded

    server = fault_server(drip(HEADERS))
    monkeypatch.setenv("MLRUN_HTTP_TIMEOUT", "1.5")
    with pytest.raises(DeadlineExceeded, match=r"no complete answer within 1.5s \(got \d+ bytes"):
        get_item(f"{server.url}/f").download(str(tmp_path / "f"))
    assert server.wait_gone() <= 2.5
    assert os.listdir(tmp_path) == []  # nothing half-written


class Redirector:
    """A real HTTP server on 127.0.0.1: ``/hop/N`` redirects to ``/hop/N-1``, ``/hop/0`` to ``/file``,
    ``/loop`` to itself, ``/secret`` serves a file the check must refuse, ``/to-secret`` redirects there."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler

        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(self.path)
                if self.path.startswith("/hop/"):
                    hops = int(self.path.rsplit("/", 1)[1])
                    self._redirect(f"/hop/{hops - 1}" if hops else "/file")
                elif self.path in ("/loop", "/to-secret"):
                    self._redirect(self.path if self.path == "/loop" else "/secret")
                else:
                    body = b"the secret file" if self.path == "/secret" else b"the file"
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            do_HEAD = do_GET

            def _redirect(self, location):
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = LoopbackHTTPServer(Handler)
        self.url = self.server.url

    def close(self):
        self.server.close()


@pytest.fixture
def redirector():
    server = Redirector()
    yield server
    server.close()


def refusing(checked):
    from mlrun.errors import AccessDeniedError

    def check(url):
        checked.append(url)
        if url.rstrip("/").endswith("/secret"):
            raise AccessDeniedError(f"not allowed to read {url}")

    return check


def test_url_check_sees_every_hop_and_a_redirect_cannot_reach_a_refused_address(redirector, tmp_path):
    from mlrun.datastore.http import HttpStore
    from mlrun.errors import AccessDeniedError, StoreError

    checked = []
    store = HttpStore("127.0.0.1")
    store.url_check = refusing(checked)
    base = redirector.url
    assert store.get(f"{base}/hop/2") == b"the file"
    assert checked == [f"{base}/hop/2", f"{base}/hop/1", f"{base}/hop/0", f"{base}/file"]
    with store.open(f"{base}/hop/0") as fp:
        assert fp.read() == b"the file"
    assert store.stat(f"{base}/hop/1").size == len(b"the file")

    checked.clear()
    redirector.seen.clear()
    with pytest.raises(AccessDeniedError, match="not allowed to read .*/secret"):
        store.get(f"{base}/to-secret")
    assert checked == [f"{base}/to-secret", f"{base}/secret"] and "/secret" not in redirector.seen
    with pytest.raises(AccessDeniedError):
        store.get(f"{base}/secret")  # the first request is checked too
    assert "/secret" not in redirector.seen

    with pytest.raises(StoreError, match=rf"^cannot read {base}/loop: more than 5 redirects$"):
        store.get(f"{base}/loop")
    assert redirector.seen.count("/loop") == 6  # the request and five redirects followed
    with pytest.raises(StoreError, match="more than 5 redirects"):
        store.download(f"{base}/hop/5", str(tmp_path / "f"))  # 6 redirects
    assert store.get(f"{base}/hop/4") == b"the file"  # 5 redirects: within the bound


def test_without_url_check_redirects_are_followed_as_before(redirector):
    from mlrun.datastore import get_item

    assert get_item(f"{redirector.url}/hop/7").get() == b"the file"


# -- the HTTP run store client ------------------------------------------------------------------------------------
@pytest.mark.parametrize("behave, reason", [
    (drip(), r"no answer within 2s \(set \$MLRUN_DB_TIMEOUT to wait longer\)"),
    (drip(HEADERS), r"no complete answer within 2s \(got \d+ bytes; set \$MLRUN_DB_TIMEOUT to wait longer\)"),
    (silent, r"no answer within 2s \(set \$MLRUN_DB_TIMEOUT to wait longer\)"),
], ids=["drip-headers", "drip-body", "silent"])
def test_the_run_store_client_is_given_up_at_its_deadline(fault_server, tmp_path, behave, reason):
    import re

    server = fault_server(behave)
    result = mlrun_cli("get", "run", "abc123", cwd=str(tmp_path), timeout=60,
                       env={"MLRUN_DBPATH": server.url, "MLRUN_DB_TIMEOUT": "2"})
    assert server.wait_gone() <= 3.0
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(rf"Error: run server {server.url} \(GET /api/runs/abc123\): {reason}", last), last


def test_the_run_store_client_refuses_a_huge_answer_without_holding_it(fault_server, tmp_path):
    server = fault_server(big(300 * MB, declared=False))
    code = ("import sys\nfrom mlrun.rundb.httpdb import HTTPRunDB\n"
            "try:\n    HTTPRunDB(sys.argv[1]).read_run_data('abc123')\n"
            "except Exception as exc:\n    print(exc)\n" + PEAK)
    proc = run_python(code, server.url, timeout=120, env={**os.environ, "MLRUN_DB_MAX_ANSWER": str(16 * MB)})
    error, peak = proc.stdout.strip().splitlines()[-2:]
    assert error == (f"run server {server.url} (GET /api/runs/abc123): answer larger than the limit of "
                     f"{16 * MB} bytes ($MLRUN_DB_MAX_ANSWER)")
    assert int(peak) < 16 * MB + 64 * MB  # the limit and the interpreter


# -- S3 -----------------------------------------------------------------------------------------------------------
def test_a_frozen_s3_endpoint_is_given_up_within_the_bound(fault_server, monkeypatch):
    """Accepts connections, never answers: 3 attempts of a 1 s read, backoff at most 1 + 2 s."""
    from mlrun.datastore import get_item
    from mlrun.errors import StoreError

    server = fault_server(silent)
    for name, value in (("AWS_MAX_ATTEMPTS", "3"), ("MLRUN_S3_READ_TIMEOUT", "1"), ("MLRUN_S3_CONNECT_TIMEOUT", "1")):
        monkeypatch.setenv(name, value)
    secrets = {"AWS_ACCESS_KEY_ID": "AKIAFROZEN", "AWS_SECRET_ACCESS_KEY": "frozen-secret-key",
               "S3_ENDPOINT_URL": server.url, "AWS_REGION": "us-east-1"}
    started = time.monotonic()
    with pytest.raises(StoreError) as err:
        get_item("s3://bucket/k", secrets).get()
    assert time.monotonic() - started <= 3 * 1 + 1 + 2 + 1
    assert str(err.value) == (f"cannot reach S3 at {server.url} for s3://bucket/k: read timed out after 1s "
                              "(3 attempts)")
    assert len(server.sessions) == 3 and "frozen-secret-key" not in str(err.value)


def test_s3_limits_that_are_not_numbers_are_one_line_errors(monkeypatch):
    from mlrun.datastore.s3 import s3_client
    from mlrun.errors import InvalidInputError

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "many")
    with pytest.raises(InvalidInputError, match=r"^\$AWS_MAX_ATTEMPTS must be a positive whole number"):
        s3_client({})
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("MLRUN_S3_READ_TIMEOUT", "-1")
    with pytest.raises(InvalidInputError, match=r"^\$MLRUN_S3_READ_TIMEOUT must be a positive number of seconds"):
        s3_client({})


def test_the_watchdog_forgets_finished_calls():
    """One heap entry per call in progress, not per call ever made: a long-lived server makes millions."""
    from mlrun import transport

    calls = [transport.Call(f"http://127.0.0.1/{n}", 600) for n in range(1000)]
    for call in calls:
        call.finish()
    assert len(transport._watchdog.heap) <= 200
    assert transport._watchdog.thread.is_alive() and not any(call.expired for call in calls)


def _self_signed(folder) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, as PEM files in ``folder``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    with open(cert_path, "wb") as fp:
        fp.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as fp:
        fp.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    return cert_path, key_path


def test_a_dripping_https_answer_is_cut_at_the_deadline_too(fault_server, tmp_path, monkeypatch):
    """The watchdog shuts down TLS sockets as well (the descriptor under the TLS layer)."""
    import ssl

    from mlrun.datastore import get_item
    from mlrun.transport import DeadlineExceeded

    cert, key = _self_signed(str(tmp_path))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    plain = drip(HEADERS)

    def behave(server, conn):
        plain(server, context.wrap_socket(conn, server_side=True))

    server = fault_server(behave)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)
    monkeypatch.setenv("MLRUN_HTTP_TIMEOUT", "2")
    url = f"https://127.0.0.1:{server.port}/f"
    with pytest.raises(DeadlineExceeded, match=rf"^{url}: no complete answer within 2s \(got [1-9]\d* bytes"):
        get_item(url).get()
    assert server.wait_gone() <= 3.0
