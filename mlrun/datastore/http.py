"""Files served over HTTP(S), read only: ``http(s)://host/path``.

Every request has a timeout; connection failures and 429/5xx answers are retried a bounded
number of times with exponential backoff (urllib3's ``Retry``).  Bodies stream: ``open()`` hands
out the response stream and downloads are copied chunk by chunk into a temp file.
"""
from __future__ import annotations

import threading
from typing import BinaryIO

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ..errors import NotFoundError, StoreError
from .base import DataStore, FileStat

#: connect and read timeouts, seconds
TIMEOUT = (10, 60)
RETRY = Retry(total=3, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504),
              allowed_methods=("GET", "HEAD"), raise_on_status=False, respect_retry_after_header=True)

_session: requests.Session | None = None
_session_lock = threading.Lock()


def http_session() -> requests.Session:
    """One pooled session per process, with the retry policy mounted."""
    global _session
    with _session_lock:
        if _session is None:
            session = requests.Session()
            adapter = HTTPAdapter(max_retries=RETRY)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            _session = session
    return _session


class HttpStore(DataStore):
    scheme = "http"

    def path_of(self, url: str) -> str:
        return url  # requests want the whole URL

    def url_of(self, path: str) -> str:
        return path

    def _request(self, method: str, url: str, stream: bool = False) -> requests.Response:
        try:
            response = http_session().request(method, url, stream=stream, timeout=TIMEOUT)
        except requests.exceptions.RetryError as exc:
            raise StoreError(f"cannot read {url}: still failing after {RETRY.total} retries ({exc})") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            reason = type(exc).__name__
            raise StoreError(f"cannot reach {url} after {RETRY.total} retries ({reason})") from None
        except requests.RequestException as exc:
            raise StoreError(f"cannot read {url}: {exc}") from None
        if response.status_code >= 400:
            response.close()
            if response.status_code in (404, 410):
                raise NotFoundError(f"not found: {url} (HTTP {response.status_code})")
            if response.status_code in (401, 403):
                raise StoreError(f"access denied to {url} (HTTP {response.status_code})")
            raise StoreError(f"cannot read {url}: HTTP {response.status_code} {response.reason}")
        return response

    def open(self, path: str, mode: str = "rb") -> BinaryIO:
        if "w" in mode:
            self._read_only(path)
        raw = self._request("GET", path, stream=True).raw
        raw.decode_content = True  # gzip-encoded answers come out as the file itself
        return raw

    def read(self, path: str) -> tuple[bytes, FileStat]:
        response = self._request("GET", path)
        return response.content, _response_stat(response, size=len(response.content))

    def stat(self, path: str) -> FileStat:
        try:
            response = self._request("HEAD", path)
        except NotFoundError:
            raise
        except StoreError:  # presigned URLs and some servers refuse HEAD but serve GET: read just the headers
            response = self._request("GET", path, stream=True)
            response.close()
        return _response_stat(response)

    def put(self, path: str, data: bytes) -> None:
        self._read_only(path)

    def upload(self, path: str, local_path: str) -> None:
        self._read_only(path)

    @staticmethod
    def _read_only(url: str):
        raise StoreError(f"cannot write {url}: http(s) data stores are read only")


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
