"""Bounded HTTP calls with requests: a total deadline per call and a size limit per answer.

requests and urllib3 bound each socket operation (connect, one send, one read), never a whole
call: a server that sends a byte every few seconds keeps a caller for ever.  Here every call made
through a ``session()`` has a total deadline covering connect, sending, waiting for the headers,
reading the whole body and the retries in between.  One watchdog thread per process keeps the
deadlines of the calls in progress in a heap; the connections register their sockets with the call
of the thread that uses them, and when a deadline passes the watchdog shuts those sockets down, so
whatever the caller was blocked in returns and the call raises one ``DeadlineExceeded`` naming the
address.  Bodies are read in chunks against a size limit: never more than the limit in memory.

Not bounded by the watchdog: name resolution (``getaddrinfo`` cannot be interrupted) and a TLS
handshake (bounded by the connect timeout, itself capped to the time left).  Imported lazily: only
the modules that make HTTP calls load it.
"""
from __future__ import annotations

import contextlib
import heapq
import io
import itertools
import os
import socket
import threading
import time

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError
from urllib3.util.retry import Retry

from .errors import InvalidInputError, LimitExceededError, StoreError

CHUNK_SIZE = 256 * 1024
MB = 1024 * 1024


class DeadlineExceeded(StoreError):
    """A remote call (a function, a web server, a run server) gave no complete answer within its total deadline."""


class Call:
    """One bounded call: its address (for messages), deadline, and the sockets it uses.

    Also a context manager: inside the block, connections opened or reused by this thread register
    with it.  ``finish()`` ends it, once its answer is read (or given up).
    """

    def __init__(self, address: str, seconds: float, env: str = ""):
        self.address, self.seconds, self.env = address, seconds, env
        self.deadline = time.monotonic() + seconds
        #: set when the answer's headers arrived; ``got`` counts the body's bytes read since
        self.headers, self.got = False, 0
        self.expired = self.done = False
        self._fds: list[int] = []
        self._lock = threading.Lock()
        _watchdog.add(self)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def over(self) -> bool:
        return self.expired or self.remaining() <= 0

    def error(self) -> DeadlineExceeded:
        hint = f"set ${self.env} to wait longer" if self.env else ""
        if not self.headers:
            return DeadlineExceeded(f"{self.address}: no answer within {round(self.seconds, 2):g}s"
                                    + (f" ({hint})" if hint else ""))
        return DeadlineExceeded(f"{self.address}: no complete answer within {round(self.seconds, 2):g}s "
                                f"(got {self.got} bytes{'; ' + hint if hint else ''})")

    def check(self) -> None:
        if self.over():
            raise self.error()

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down when the deadline passes (a duplicate descriptor: closing the socket does not race)."""
        fd = os.dup(sock.fileno())
        with self._lock:
            if not (self.done or self.expired):
                self._fds.append(fd)
                return
        os.close(fd)
        self.check()

    def _mark(self, flag: str) -> list[int] | None:
        """Set ``flag`` (``expired`` or ``done``) and take the sockets' duplicates; ``None`` once the call is done."""
        with self._lock:
            if self.done:
                return None
            setattr(self, flag, True)
            fds, self._fds = self._fds, []
            return fds

    def expire(self) -> None:
        """The watchdog's part: mark the call and wake whatever waits on its sockets."""
        for fd in self._mark("expired") or ():
            # the socket object closes the duplicate; shutdown fails on a socket no longer connected
            with socket.socket(fileno=fd) as sock, contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        fds = self._mark("done")
        if fds is None:
            return
        for fd in fds:
            os.close(fd)
        if not self.expired:  # an expired call has left the watchdog's heap already; done, it cannot expire
            _watchdog.finished()

    def __enter__(self) -> Call:
        self._outer = getattr(_local, "call", None)
        _local.call = self
        return self

    def __exit__(self, *exc) -> None:
        _local.call = self._outer


_local = threading.local()


def current() -> Call | None:
    """The call this thread is making, if any."""
    return getattr(_local, "call", None)


class _Watchdog:
    """One thread per process: expires calls when their deadlines pass, earliest first."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.lock = threading.Lock()
        self.wake = threading.Condition(self.lock)
        self.heap: list[tuple[float, int, Call]] = []
        self.ended = 0  # finished calls still in the heap: dropped lazily, or all at once when many
        self.order = itertools.count()
        self.thread: threading.Thread | None = None

    def add(self, call: Call) -> None:
        with self.lock:
            heapq.heappush(self.heap, (call.deadline, next(self.order), call))
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="mlrun-deadlines", daemon=True)
                self.thread.start()
            elif self.heap[0][2] is call:  # earlier than what the thread sleeps for
                self.wake.notify()

    def finished(self) -> None:
        with self.lock:
            self.ended += 1
            if self.ended > 64 and self.ended * 2 > len(self.heap):
                self.heap = [entry for entry in self.heap if not entry[2].done]
                heapq.heapify(self.heap)
                self.ended = 0

    def _run(self) -> None:
        with self.lock:
            while True:
                while self.heap and self.heap[0][2].done:
                    heapq.heappop(self.heap)
                    self.ended = max(0, self.ended - 1)
                if not self.heap:
                    self.wake.wait()
                    continue
                delay = self.heap[0][0] - time.monotonic()
                if delay > 0:
                    self.wake.wait(delay)
                    continue
                heapq.heappop(self.heap)[2].expire()


_watchdog = _Watchdog()
if hasattr(os, "register_at_fork"):  # a forked child has no watchdog thread and no calls in progress
    os.register_at_fork(after_in_child=_watchdog.reset)


#: a request header that a bounded call fills, at each attempt, with the seconds it has left: a server (``mlrun
#: server``) bounds its own work for the request by it, so what its client gave up on is not done later
DEADLINE_HEADER = "X-MLRun-Deadline"


class _Bounded:
    """Connection mixin: connect within the time left, and register the socket with the thread's call."""

    _call: Call | None = None

    def _new_conn(self):
        call = current()
        if call is not None:
            call.check()
            left = call.remaining()
            self.timeout = min(self.timeout, left) if isinstance(self.timeout, (int, float)) else left
        sock = super()._new_conn()
        if call is not None:
            call.watch(sock)
            self._call = call
        return sock

    def request(self, *args, **kwargs):
        call = current()
        if call is not None and self.sock is not None and self._call is not call:  # a kept-alive connection
            call.watch(self.sock)
            self._call = call
        headers = kwargs.get("headers")
        if call is not None and headers and DEADLINE_HEADER in headers:  # this attempt's time left, retries included
            kwargs["headers"] = {**headers, DEADLINE_HEADER: f"{max(call.remaining(), 0.0):.3f}"}
        return super().request(*args, **kwargs)


class _BoundedHTTPConnection(_Bounded, HTTPConnection):
    pass


class _BoundedHTTPSConnection(_Bounded, HTTPSConnection):
    pass


class _BoundedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _BoundedHTTPConnection


class _BoundedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _BoundedHTTPSConnection


_POOLS = {"http": _BoundedHTTPPool, "https": _BoundedHTTPSPool}


class BoundedAdapter(HTTPAdapter):
    """requests' adapter with connections that obey the deadline of the call in progress."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools have connection classes of their own
            manager.pool_classes_by_scheme = _POOLS
        return manager


class BoundedRetry(Retry):
    """urllib3's ``Retry`` whose waits (backoff, ``Retry-After``) never outlast the call's deadline."""

    def get_backoff_time(self) -> float:
        return _cap(super().get_backoff_time())

    def get_retry_after(self, response) -> float | None:
        wait = super().get_retry_after(response)
        return None if wait is None else _cap(wait)


def _cap(seconds: float) -> float:
    call = current()
    return seconds if call is None else max(0.0, min(seconds, call.remaining()))


def session(retry: Retry | None = None) -> requests.Session:
    """A requests session whose calls can be bounded by ``request``; ``retry`` mounted for http and https."""
    result = requests.Session()
    for prefix in ("http://", "https://"):
        result.mount(prefix, BoundedAdapter(max_retries=retry) if retry is not None else BoundedAdapter())
    return result


def send(http: requests.Session, call: Call, method: str, url: str, **kwargs) -> requests.Response:
    """``http.request(method, url, **kwargs)`` under ``call``'s deadline, retries included; returns with the headers.

    The body is left to ``read_body`` or ``BoundedBody``.  A per-read timeout (``timeout=(connect, read)``)
    at least as long as the deadline is left to the deadline.
    """
    timeout = kwargs.pop("timeout", None)
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    if read is None or read >= call.seconds:
        read = call.seconds + 1  # the watchdog ends the call first; the socket's own timeout only backs it up
    try:
        with call:
            answer = http.request(method, url, stream=True, timeout=(connect, read), **kwargs)
    except (requests.RequestException, OSError):
        if call.over():
            raise call.error() from None
        raise
    call.headers = True
    return answer


def request(http: requests.Session, method: str, url: str, *, deadline: float, deadline_env: str = "",
            limit: int | None = None, limit_env: str = "", address: str | None = None,
            **kwargs) -> requests.Response:
    """``http.request(method, url, **kwargs)`` and its whole body within ``deadline`` seconds, retries included.

    At most ``limit`` bytes of body are read (``LimitExceededError`` past it, naming ``limit_env``); they are
    the answer's ``content``.  ``DeadlineExceeded`` names ``address`` (default: the URL) when the deadline
    passes; other failures raise requests' exceptions as usual.
    """
    call = Call(address or url, deadline, deadline_env)
    try:
        answer = send(http, call, method, url, **kwargs)
        answer._content = read_body(answer, call, limit, limit_env)  # what .content, .text and .json() use
        return answer
    finally:
        call.finish()


def read_body(answer: requests.Response, call: Call, limit: int | None = None, limit_env: str = "") -> bytes:
    """The answer's whole (decoded) body, read in chunks; ``LimitExceededError`` once it passes ``limit``."""
    declared = answer.headers.get("Content-Length", "")
    if limit is not None and declared.isdigit() and int(declared) > limit:
        answer.close()
        raise _too_large(call.address, limit, limit_env)
    body, size = io.BytesIO(), 0  # one growing buffer: many small chunks would each keep a page or more
    raw = answer.raw
    raw.decode_content = True
    try:
        while True:
            chunk = raw.read1(CHUNK_SIZE)  # what has arrived, so ``got`` tells how far a slow answer came
            if not chunk:
                break
            size += len(chunk)
            call.got = size
            if limit is not None and size > limit:
                answer.close()
                raise _too_large(call.address, limit, limit_env)
            body.write(chunk)
    except (HTTPError, OSError) as exc:
        answer.close()
        if call.over():
            raise call.error() from None
        raise requests.ConnectionError(f"{call.address}: the answer broke off after {size} bytes ({exc})") from None
    call.check()  # a socket shut down at the deadline may have looked like the end of a body without a length
    return body.getvalue()


def _too_large(address: str, limit: int, env: str) -> LimitExceededError:
    return LimitExceededError(f"{address}: answer larger than the limit of {limit} bytes"
                              + (f" (${env})" if env else ""))


class BoundedBody(io.RawIOBase):
    """A streamed answer's body as a binary file; reads past the call's deadline raise ``DeadlineExceeded``.

    Closing it (or reading to the end) ends the call; a body left open is cut off at the deadline.
    """

    def __init__(self, answer: requests.Response, call: Call, limit: int | None = None, limit_env: str = ""):
        super().__init__()
        self._answer, self._raw, self._call = answer, answer.raw, call
        self._raw.decode_content = True  # gzip-encoded answers come out as the file itself
        #: at most this many bytes come out, after decoding (``LimitExceededError`` past it)
        self._limit, self._limit_env = limit, limit_env

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self._raw.read(len(buffer))
        except Exception:
            if self._call.over():
                self.close()
                raise self._call.error() from None
            raise
        if self._call.over():  # a socket shut down at the deadline reads as the end of a body without a length
            self.close()
            raise self._call.error()
        self._call.got += len(data)
        if self._limit is not None and self._call.got > self._limit:
            self.close()
            raise _too_large(self._call.address, self._limit, self._limit_env)
        buffer[:len(data)] = data
        if not data:
            self._call.finish()
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._answer.close()
            self._call.finish()
        super().close()


def env_seconds(name: str, default: float) -> float:
    """A positive number of seconds from ``$name``, else ``default``."""
    return _env_number(name, default, float, "seconds")


def env_bytes(name: str, default: int) -> int:
    """A positive number of bytes from ``$name``, else ``default``."""
    return _env_number(name, default, int, "bytes")


def _env_number(name: str, default, kind: type, unit: str):
    text = os.environ.get(name, "")
    if not text:
        return default
    try:
        value = kind(text)
        if not 0 < value < float("inf"):  # NaN fails this too
            raise ValueError
    except ValueError:
        raise InvalidInputError(f"${name} must be a positive number of {unit}, got {text!r}") from None
    return value
