"""Serving a WSGI app on waitress, for ``mlrun serve`` and ``mlrun server``.

One process serves with ``threads`` threads.  Python runs one thread at a time, so CPU-bound
handlers scale with processes, not threads: ``workers > 1`` forks that many processes that share
one listening socket (each with ``threads`` threads), the way pre-forking servers do.

Slow and huge clients cannot starve the server (``ClientLimits``): a request's line and headers must
arrive within a deadline, its body at a minimum rate, and a connection silent for too long (waiting
for its next request, or not reading its answer) is closed; connections are many (polled, not
``select``ed).  ``admit`` sees a request's headers before any of its body is read: a refusal (a
missing token) is answered at once, and the body is never read, buffered or spooled.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..config import env_seconds
from ..errors import InvalidInputError, MLRunError
from ..policy import is_loopback
from ..protocol import TOKEN_ENV


def check_listen(host: str, token: str | None, insecure: bool = False, token_env: str = TOKEN_ENV) -> None:
    """Refuse (``InvalidInputError``) to serve beyond this machine without a token, unless ``insecure``.

    ``token_env``: the variable the message tells to set (``mlrun serve``'s, or ``$MLRUN_TOKEN`` for ``mlrun server``).
    """
    if not token and not insecure and not is_loopback(host):
        raise InvalidInputError(f"refusing to listen on {host} without a token: "
                                f"set ${token_env} or --token, or pass --insecure")


@dataclass(frozen=True)
class ClientLimits:
    """How long and how much one client may hold the server (defaults from ``MLRUN_HTTP_*``, see ``from_env``)."""

    #: seconds for a request's line and headers to arrive, from its first byte
    header_timeout: float = 10.0
    #: seconds a connection may stay silent: waiting for its next request, or not reading its answer
    idle_timeout: float = 30.0
    #: bytes per second a body must average once ``header_timeout`` has passed since the request began
    min_body_rate: int = 16 * 1024
    #: connections open at once; more wait to be accepted
    max_connections: int = 1000

    @classmethod
    def from_env(cls) -> ClientLimits:
        """``$MLRUN_HTTP_HEADER_TIMEOUT``, ``$MLRUN_HTTP_IDLE_TIMEOUT`` (seconds), ``$MLRUN_HTTP_MIN_BODY_RATE``
        (bytes/s) and ``$MLRUN_HTTP_MAX_CONNECTIONS`` over the defaults."""
        return cls(header_timeout=env_seconds("MLRUN_HTTP_HEADER_TIMEOUT", cls.header_timeout),
                   idle_timeout=env_seconds("MLRUN_HTTP_IDLE_TIMEOUT", cls.idle_timeout),
                   min_body_rate=int(env_seconds("MLRUN_HTTP_MIN_BODY_RATE", cls.min_body_rate)),
                   max_connections=max(1, int(env_seconds("MLRUN_HTTP_MAX_CONNECTIONS", cls.max_connections))))


@dataclass(frozen=True)
class Refusal:
    """An answer given from a request's headers alone (``admit``): its body is never read."""

    status: int
    reason: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, status: int, reason: str, message: str, field: str = "", headers=()) -> Refusal:
        """The one-line JSON error the apps answer with: ``{"error": message, "field": field}``."""
        body = {"error": message, **({"field": field} if field else {})}
        return cls(status, reason, json.dumps(body).encode("utf-8"),
                   (("Content-Type", "application/json"), *headers))


@dataclass(frozen=True)
class RequestHead:
    """A request as ``admit`` sees it: before its body."""

    method: str
    path: str
    protocol: str  # "HTTP/1.1"
    #: as waitress names them: ``AUTHORIZATION``, ``COOKIE``, ``CONTENT_LENGTH``, ``TRANSFER_ENCODING``...
    headers: Mapping[str, str]
    client: str  # the peer's address


#: ``admit(head)``: a ``Refusal``, or ``None`` to read the body; asked only of requests with a body
Admit = Callable[[RequestHead], "Refusal | None"]


def _parser_class(admit: Admit | None):
    """A waitress request parser that asks ``admit`` once a request's headers are in."""
    from waitress.parser import HTTPRequestParser
    from waitress.utilities import Error

    class Refused(Error):
        def __init__(self, refusal: Refusal):
            super().__init__(refusal.reason)
            self.code, self.reason, self.refusal = refusal.status, refusal.reason, refusal

        def to_response(self, ident=None):
            refusal = self.refusal
            return f"{refusal.status} {refusal.reason}", list(refusal.headers), refusal.body

    class Parser(HTTPRequestParser):
        def __init__(self, adj, client: str = ""):
            super().__init__(adj)
            self.client, self.started = client, time.time()

        def parse_header(self, header_plus):
            super().parse_header(header_plus)
            if admit is not None and (self.content_length > 0 or self.chunked):
                refusal = admit(RequestHead(self.command, self.path, f"HTTP/{self.version}", self.headers,
                                            self.client))
                if refusal is not None:  # answered now; the connection closes before its body is read
                    self.error, self.completed, self.expect_continue = Refused(refusal), True, False
                    self.content_length = 0  # no body to weigh: the refusal stands over waitress's size check

    return Parser


def _channel_class(admit: Admit | None, limits: ClientLimits):
    """A waitress channel that enforces ``limits`` and asks ``admit`` once a request's headers are in."""
    from waitress.channel import HTTPChannel

    parser_class = _parser_class(admit)

    class Channel(HTTPChannel):
        def __init__(self, server, sock, addr, adj, map=None):
            super().__init__(server, sock, addr, adj, map)
            client = addr[0] if isinstance(addr, tuple) else ""
            self.parser_class = lambda adj: parser_class(adj, client)

        def readable(self):
            if not self.will_close and self._overdue(time.time()):
                self.will_close = True  # closed by the loop's next pass (waitress's own way to drop a channel)
            return super().readable()

        def _overdue(self, now: float) -> bool:
            if self.requests:  # being answered: only a client that stopped reading its answer is overdue
                return bool(self.total_outbufs_len) and now - self.last_activity > limits.idle_timeout
            request = self.request
            if request is None:
                return now - self.last_activity > limits.idle_timeout
            late = now - request.started - limits.header_timeout
            if not request.headers_finished:
                return late > 0
            return late > 0 and request.body_bytes_received < late * limits.min_body_rate

    return Channel


def _raise_open_files_limit(wanted: int) -> None:
    """Let the process hold ``wanted`` descriptors (as far as its hard limit allows): each connection takes one."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard),
                                                        hard))
    except (ImportError, ValueError, OSError):  # not on this platform, or not allowed: the old limit stays
        pass


def create_server(app, channel_class=None, **options):
    """waitress's ``create_server``, its listening sockets handing connections to ``channel_class``."""
    from waitress import create_server as create_waitress_server

    sockets: dict = {}  # waitress registers its listening sockets here
    server = create_waitress_server(app, map=sockets, **options)
    for listener in list(sockets.values()):
        listener.channel_class = channel_class or listener.channel_class
    return server


def _stop(signum, frame):
    raise KeyboardInterrupt


def run_server(app, host: str = "127.0.0.1", port: int = 8080, threads: int = 4, workers: int = 1,
               max_request_body_size: int = 1024 ** 3, announce: Callable[[int], None] = lambda port: None,
               admit: Admit | None = None, limits: ClientLimits | None = None) -> None:
    """Serve ``app`` until SIGINT or SIGTERM; ``announce`` gets the port listened on (useful with port 0).

    ``admit`` decides on a request from its headers, before its body is read; ``limits`` (default
    ``ClientLimits.from_env()``) bound what slow clients hold.
    """
    options = _server_options(threads, max_request_body_size, admit, limits or ClientLimits.from_env())
    try:
        # resolved first: waitress turns a name that does not resolve into a bare "Invalid host/port specified."
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        if workers <= 1:
            server = create_server(app, host=host, port=port, **options)
            listening = [server]
        else:  # bound here, before forking, so every worker accepts on the same socket
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            listening = [socket.create_server((host, port), family=family, backlog=1024)]
    except (OSError, UnicodeError, ValueError) as exc:  # UnicodeError: a name IDNA cannot encode
        raise MLRunError(f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}") from None
    announce(server.effective_port if workers <= 1 else listening[0].getsockname()[1])
    signal.signal(signal.SIGTERM, _stop)
    if workers <= 1:
        _serve_forever(server)
        return

    _serve_workers(lambda: _serve_forever(create_server(app, sockets=listening, **options)), workers, listening[0])


def _serve_workers(serve: Callable[[], None], workers: int, listening: socket.socket) -> None:
    """Fork ``workers`` processes running ``serve()`` on the shared socket; keep them (a dead one is replaced)
    until this process is told to stop, then stop them."""
    parent = os.getpid()
    children: set[int] = set()

    def start_worker() -> None:
        pid = os.fork()
        if pid == 0:  # a worker: serve until told to stop, never return into the parent's code
            try:
                _die_with_parent(parent)
                serve()
            finally:
                os._exit(0)
        children.add(pid)

    try:
        for _ in range(workers):
            start_worker()
        _keep_workers(children, start_worker)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stopping: a second SIGTERM must not cut the cleanup short
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        listening.close()


#: a worker that dies sooner than this after its start is restarted only after this long (no crash loop at full speed)
RESTART_DELAY = 1.0


def _keep_workers(children: set[int], start_worker: Callable[[], None]) -> None:
    """Wait on the workers; one that ends (killed, crashed) is replaced, so the server keeps its size."""
    import logging
    import time

    from ..runtimes.local import exit_reason

    started = {pid: time.monotonic() for pid in children}
    while children:
        pid, status = os.wait()
        if pid not in children:
            continue
        children.discard(pid)
        lived = time.monotonic() - started.pop(pid, 0.0)
        logging.getLogger("mlrun.server").warning("worker %d ended (%s); starting another", pid,
                                                  exit_reason(os.waitstatus_to_exitcode(status)))
        if lived < RESTART_DELAY:
            time.sleep(RESTART_DELAY - lived)
        before = set(children)
        start_worker()
        for new in children - before:
            started[new] = time.monotonic()


def _die_with_parent(parent: int) -> None:
    """Have the kernel send this worker SIGTERM when the server's main process dies (even by SIGKILL): a worker
    outliving it would keep the port and serve on unmanaged.  Linux only (``PR_SET_PDEATHSIG``); elsewhere a
    thread watches the parent."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGTERM, 0, 0, 0) != 0:  # 1: PR_SET_PDEATHSIG
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError):
        import threading
        import time

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, name="mlrun-parent-watch", daemon=True).start()
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _server_options(threads: int, max_request_body_size: int, admit: Admit | None, limits: ClientLimits) -> dict:
    """``create_server``'s options for these limits (and room for their connections' descriptors)."""
    _raise_open_files_limit(limits.max_connections + 64)
    return dict(threads=threads, ident="mlrun", max_request_body_size=max_request_body_size,
                connection_limit=limits.max_connections, asyncore_use_poll=True,
                channel_timeout=max(1, round(limits.idle_timeout)), cleanup_interval=5,
                channel_class=_channel_class(admit, limits))


def _serve_forever(server) -> None:
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
