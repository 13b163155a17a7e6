"""Files served over HTTP(S), read only: ``http(s)://host/path``.

Every request has a total deadline, retries included (``$MLRUN_HTTP_TIMEOUT``, default 300 s for a
whole transfer; 30 s at most for a stat), on top of connect and per-read timeouts (see
``mlrun.transport``); connection failures and 429/5xx answers are retried a bounded number of times
with exponential backoff (urllib3's ``Retry``, waits cut to the deadline).  Bodies stream: ``open()``
hands out the response stream and downloads are copied chunk by chunk into a temp file.  What a read
gives is bounded after decoding (``$MLRUN_MAX_INPUT_SIZE``): a compressed answer that decodes past it is
cut off with one line naming the URL, never held whole.

``url_check``, when set on a store, is called with every URL before it is requested, the first and
each redirect's (followed here, at most ``MAX_REDIRECTS``), so a redirect cannot lead where the
check refuses.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import BinaryIO
from urllib.parse import urljoin

import requests

from .. import transport
from ..errors import NotFoundError, StoreError
from .base import DataStore, FileStat

#: connect and read timeouts, seconds
TIMEOUT = (10, 60)
#: seconds a request may take in all, from connecting to the body's last byte, retries included
TIMEOUT_ENV = "MLRUN_HTTP_TIMEOUT"
DEFAULT_DEADLINE = 300.0
#: a stat (HEAD, or a GET for the headers) takes at most this, or the deadline when shorter
STAT_DEADLINE = 30.0
#: the most bytes a read gives, counted after decoding: a gzip answer may decode to a thousand times what it sent
MAX_INPUT_SIZE_ENV, DEFAULT_MAX_INPUT_SIZE = "MLRUN_MAX_INPUT_SIZE", 512 * 1024 * 1024
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
RETRY = transport.BoundedRetry(total=3, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504),
                               allowed_methods=("GET", "HEAD"), raise_on_status=False,
                               respect_retry_after_header=True)

_session: requests.Session | None = None
_session_lock = threading.Lock()


def http_session() -> requests.Session:
    """One pooled session per process, with the retry policy mounted and deadlines obeyed."""
    global _session
    with _session_lock:
        if _session is None:
            _session = transport.session(RETRY)
    return _session


def max_input_size() -> int:
    """The most bytes one read may give, after decoding: ``$MLRUN_MAX_INPUT_SIZE``, default 512 MiB."""
    return transport.env_bytes(MAX_INPUT_SIZE_ENV, DEFAULT_MAX_INPUT_SIZE)


def deadline() -> float:
    """The total deadline of a request, seconds: ``$MLRUN_HTTP_TIMEOUT``, default 300."""
    return transport.env_seconds(TIMEOUT_ENV, DEFAULT_DEADLINE)


class HttpStore(DataStore):
    scheme = "http"
    #: called with every URL before it is requested (redirects included); raises to refuse it
    url_check: Callable[[str], None] | None = None

    def path_of(self, url: str) -> str:
        return url  # requests want the whole URL

    def url_of(self, path: str) -> str:
        return path

    def _request(self, method: str, url: str, seconds: float) -> tuple[requests.Response, transport.Call]:
        """The answer to ``method url`` with its headers in, and the call whose deadline bounds its body.

        The caller reads the body (or closes the answer) and finishes the call.
        """
        call = transport.Call(url, seconds, TIMEOUT_ENV)
        try:
            return self._follow(method, url, call), call
        except BaseException as exc:
            call.finish()
            if isinstance(exc, requests.exceptions.RetryError):
                raise StoreError(f"cannot read {url}: still failing after {RETRY.total} retries ({exc})") from None
            if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
                raise StoreError(f"cannot reach {url} after {RETRY.total} retries ({type(exc).__name__})") from None
            if isinstance(exc, requests.RequestException):
                raise StoreError(f"cannot read {url}: {exc}") from None
            raise

    def _follow(self, method: str, url: str, call: transport.Call) -> requests.Response:
        check = self.url_check
        if check is None:  # requests follows redirects, under the same deadline
            return _checked(transport.send(http_session(), call, method, url, timeout=TIMEOUT), url)
        for _ in range(MAX_REDIRECTS + 1):
            check(url)
            response = transport.send(http_session(), call, method, url, timeout=TIMEOUT, allow_redirects=False)
            location = response.headers.get("Location")
            if response.status_code not in REDIRECTS or not location:
                return _checked(response, url)
            response.close()
            url = urljoin(url, location)
            if response.status_code == 303 and method != "HEAD":
                method = "GET"
        raise StoreError(f"cannot read {call.address}: more than {MAX_REDIRECTS} redirects")

    def open(self, path: str, mode: str = "rb") -> BinaryIO:
        if "w" in mode:
            self._read_only(path)
        response, call = self._request("GET", path, deadline())
        return transport.BoundedBody(response, call, max_input_size(), MAX_INPUT_SIZE_ENV)  # type: ignore[return-value]

    def read(self, path: str) -> tuple[bytes, FileStat]:
        response, call = self._request("GET", path, deadline())
        try:
            content = transport.read_body(response, call, max_input_size(), MAX_INPUT_SIZE_ENV)
        except requests.RequestException as exc:
            raise StoreError(f"cannot read {path}: {type(exc).__name__}") from None
        finally:
            call.finish()
        return content, _response_stat(response, size=len(content))

    def stat(self, path: str) -> FileStat:
        seconds = min(deadline(), STAT_DEADLINE)
        try:
            response, call = self._request("HEAD", path, seconds)
        except (NotFoundError, transport.DeadlineExceeded):
            raise
        except StoreError:  # presigned URLs and some servers refuse HEAD but serve GET: read just the headers
            response, call = self._request("GET", path, seconds)
        response.close()
        call.finish()
        return _response_stat(response)

    def put(self, path: str, data: bytes) -> None:
        self._read_only(path)

    def upload(self, path: str, local_path: str) -> None:
        self._read_only(path)

    @staticmethod
    def _read_only(url: str):
        raise StoreError(f"cannot write {url}: http(s) data stores are read only")


def _checked(response: requests.Response, url: str) -> requests.Response:
    """``response`` when it holds the object; else the one-line error its status means."""
    if response.status_code < 400:
        return response
    response.close()
    if response.status_code in (404, 410):
        raise NotFoundError(f"not found: {url} (HTTP {response.status_code})")
    if response.status_code in (401, 403):
        raise StoreError(f"access denied to {url} (HTTP {response.status_code})")
    raise StoreError(f"cannot read {url}: HTTP {response.status_code} {response.reason}")


def _response_stat(response: requests.Response, size: int | None = None) -> FileStat:
    """What an answer's headers say of the object; ``size``, when given, is what was read (after decoding)."""
    headers = response.headers
    return FileStat(size=int(headers.get("Content-Length", -1)) if size is None else size,
                    modified=_iso(headers.get("Last-Modified", "")),
                    etag=headers.get("ETag", "").removeprefix("W/").strip('"'))


def _iso(http_date: str) -> str:
    if not http_date:
        return ""
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(http_date).isoformat()
    except (TypeError, ValueError):
        return http_date
