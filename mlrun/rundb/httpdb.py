"""Runs kept by an ``mlrun server``: ``MLRUN_DBPATH=http(s)://host:port``.

The token comes from ``$MLRUN_TOKEN`` (or ``HTTPRunDB(url, token=...)``), never from the URL:
URLs end up in logs, shell histories and run environments.  Every call has connect and read
timeouts and a total deadline (``$MLRUN_DB_TIMEOUT``, retries included), every answer a size limit
(``$MLRUN_DB_MAX_ANSWER``), see ``mlrun.transport``; calls that are safe to repeat (everything but
appending to a log) are retried a bounded number of times with backoff when the server cannot be
reached or answers 502/503/504.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import quote, urlparse

from ..errors import (
    AccessDeniedError,
    InvalidInputError,
    InvalidSpecError,
    LimitExceededError,
    NotFoundError,
    StoreError,
)
from .base import MAX_LISTED, RunDB

TOKEN_ENV = "MLRUN_TOKEN"
#: (connect, read) seconds
TIMEOUT = (5.0, 60.0)
#: seconds a call may take in all, retries included (default 60)
DEADLINE_ENV = "MLRUN_DB_TIMEOUT"
DEFAULT_DEADLINE = 60.0
#: bytes an answer may have (default 256 MiB: a long run's log); a larger one is refused, never held
MAX_ANSWER_ENV = "MLRUN_DB_MAX_ANSWER"
DEFAULT_MAX_ANSWER = 256 * 1024 * 1024
RETRIES = 3
#: runs asked per request when a caller lists without a limit (the server's largest page)
PAGE_SIZE = 1000


class HTTPRunDB(RunDB):
    def __init__(self, url: str, token: str | None = None, timeout: tuple[float, float] = TIMEOUT,
                 retries: int = RETRIES, deadline: float | None = None, max_answer: int | None = None):
        super().__init__(url)
        parsed = urlparse(url)
        if parsed.username or parsed.password:  # and say so without repeating the URL, which holds a secret
            raise InvalidInputError(f"the run store URL must not carry credentials: set {TOKEN_ENV} instead")
        if not parsed.hostname:
            raise InvalidInputError(f"run store URL {url!r} names no host (expected http(s)://host:port)")
        self.base = url.rstrip("/")
        self._token = os.environ.get(TOKEN_ENV, "") if token is None else token
        self.timeout, self.retries = timeout, retries
        from ..transport import env_bytes, env_seconds  # requests stays unloaded until a call

        self.deadline = deadline or env_seconds(DEADLINE_ENV, DEFAULT_DEADLINE)
        self.max_answer = max_answer or env_bytes(MAX_ANSWER_ENV, DEFAULT_MAX_ANSWER)
        self._session = None

    def __repr__(self) -> str:
        return f"HTTPRunDB({self.base!r})"

    @property
    def session(self):
        if self._session is None:
            from .. import transport

            retry = transport.BoundedRetry(total=self.retries, backoff_factor=0.2, status_forcelist=(502, 503, 504),
                                           allowed_methods=transport.Retry.DEFAULT_ALLOWED_METHODS | {"PATCH"},
                                           raise_on_status=False)
            session = transport.session(retry)
            if self._token:
                session.headers["Authorization"] = f"Bearer {self._token}"
            self._session = session
        return self._session

    def _json(self, method: str, path: str, **kwargs):
        response = self._call(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise StoreError(f"{self.base} answered {path} with something other than JSON: "
                             "is it an mlrun server?") from None

    def _call(self, method: str, path: str, **kwargs):
        import requests

        from ..transport import DEADLINE_HEADER, request

        url = f"{self.base}/api{path}"
        # the server's store gives up when this call does (the transport fills in the time left at each attempt):
        # a write it could not finish in time is not applied later
        headers = {**kwargs.pop("headers", {}), DEADLINE_HEADER: ""}
        try:
            response = request(self.session, method, url, deadline=self.deadline, deadline_env=DEADLINE_ENV,
                               limit=self.max_answer, limit_env=MAX_ANSWER_ENV, timeout=self.timeout,
                               address=f"run server {self.base} ({method} /api{path})", headers=headers, **kwargs)
        except requests.RequestException as exc:
            raise StoreError(f"run server {self.base} did not answer: {_reason(exc)}") from None
        if response.status_code >= 400:
            raise _error(response, self.base)
        return response

    def store_run_data(self, record: dict) -> None:
        uid = (record.get("metadata") or {}).get("uid")
        if not uid or not isinstance(uid, str):
            raise StoreError("cannot store a run without metadata.uid")
        self._call("PUT", f"/runs/{_quote(uid)}", json=record)

    def read_run_data(self, uid: str, iteration: int = 0) -> dict:
        return self._json("GET", f"/runs/{_quote(uid)}", params={"iteration": iteration})

    def update_run(self, uid: str, changes: dict, iteration: int = 0) -> dict:
        """Merge ``changes`` (a partial record; ``None`` removes a field) into the stored record on the server."""
        return self._json("PATCH", f"/runs/{_quote(uid)}", params={"iteration": iteration}, json=changes)

    def list_summaries(self, name=None, project=None, labels: Mapping | None = None, state=None, since=None,
                       until=None, sort="start_time", desc=True, limit=None, offset=0, iterations=False) -> list[dict]:
        params = _filters(name, project, labels, state, since, until, iterations)
        params.update(sort=sort, desc="true" if desc else "false")
        return self._pages("/runs", "runs", params, limit, offset)[0]

    def search_runs(self, filter=None, sort="start_time", desc=True, limit=None, offset=0, total_exact=False,
                    name=None, project=None, labels=None, state=None, since=None, until=None,
                    iterations=False) -> tuple[list[dict], int]:
        from .filters import parse
        from .search import AtLeast, check_search_sort

        check_search_sort(sort)
        params = _filters(name, project, labels, state, since, until, iterations)
        if filter:
            parse(filter)  # the server would refuse it with the same message: no request needed
            params["filter"] = filter
        params.update(sort=sort, desc="true" if desc else "false")
        if total_exact:
            params["total_exact"] = "true"
        runs, page = self._pages("/runs", "runs", params, limit, offset)
        return runs, page["total"] if page.get("total_exact", True) else AtLeast(page["total"])

    def count_runs(self, name=None, project=None, labels: Mapping | None = None, state=None, since=None, until=None,
                   iterations=False, **_ignored) -> int:
        params = _filters(name, project, labels, state, since, until, iterations)
        return self._json("GET", "/runs", params={**params, "limit": 0})["total"]

    def list_artifacts(self, name="", project="", tag="", labels=None, kind="", category="", best_iteration=False):
        """The server's ``GET /api/artifacts``, page by page (the server reads the records, once)."""
        from .base import parse_labels
        from .lists import ArtifactList

        params = _filters(name or None, project or None, parse_labels(labels), None, None, None, False)
        params.update({k: v for k, v in (("tag", tag), ("kind", kind), ("category", category)) if v})
        if best_iteration:
            params["best_iteration"] = "true"
        return ArtifactList(self._pages("/artifacts", "artifacts", params)[0])

    def _pages(self, path: str, key: str, params: dict, limit: int | None = None, offset: int = 0) -> tuple[list, dict]:
        """Every item (at most ``limit``) of a paged listing, and its last page.  Each page is one bounded call;
        a server whose pages do not move on, or that lists more than ``MAX_LISTED`` items, is refused."""
        items: list = []
        while True:
            want = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(items))
            page = self._json("GET", path, params={**params, "limit": want, "offset": offset + len(items)})
            items.extend(page[key])
            next_offset = page.get("next_offset")
            if next_offset is None or not page[key] or limit is not None and len(items) >= limit:
                return items, page
            if next_offset != offset + len(items) or len(items) > MAX_LISTED:
                raise StoreError(f"run server {self.base} pages {path} wrongly (next offset {next_offset!r} after "
                                 f"{len(items)} items; at most {MAX_LISTED:,} are read)")

    def del_run(self, uid: str) -> None:
        self._call("DELETE", f"/runs/{_quote(uid)}")

    def store_log(self, uid: str, data: bytes, append: bool = True) -> None:
        self._call("POST" if append else "PUT", f"/runs/{_quote(uid)}/log", data=data,
                   headers={"Content-Type": "application/octet-stream"})

    def read_log(self, uid: str) -> bytes:
        return self._call("GET", f"/runs/{_quote(uid)}/log").content

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def _filters(name, project, labels, state, since, until, iterations) -> dict:
    from .base import parse_labels

    labels = parse_labels(labels)
    params: dict = {key: value for key, value in
                    (("name", name), ("project", project), ("state", state), ("since", since), ("until", until))
                    if value is not None}
    if labels:
        params["label"] = [key if value is None else f"{key}={value}" for key, value in labels.items()]
    if iterations:
        params["iterations"] = "true"
    return params


def _quote(uid: str) -> str:
    return quote(uid, safe="")


def _error(response, base: str) -> Exception:
    """The server's JSON error as the matching mlrun error (same message as a local store gives)."""
    try:
        body = response.json()
        message, field = body.get("error") or "", body.get("field") or ""
    except ValueError:
        message, field = "", ""
    status = response.status_code
    message = message or " ".join(response.text.split())[:200] or response.reason or "no details"
    if status == 404:
        return NotFoundError(message)
    if status == 400:
        return InvalidSpecError(message, field)
    if status == 401:
        return StoreError(f"run server {base} refused the request (HTTP {status}): {message}; "
                          f"is {TOKEN_ENV} set to the server's token?")
    if status == 403:  # the token was right; what was asked for is outside what the server may serve
        return AccessDeniedError(message)
    if status == 413:
        return LimitExceededError(message)
    return StoreError(f"run server {base} failed (HTTP {status}): {message}")


def _reason(exc: Exception) -> str:
    # requests wraps urllib3's last error after the retries; its text is long: say the gist
    text = str(exc).lower()
    if "timed out" in text or "timeout" in text:
        return "timed out"
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return "unknown host"
    return f"connection failed ({type(exc).__name__})"
