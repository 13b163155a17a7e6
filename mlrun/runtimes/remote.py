"""Remote runs: the run spec is POSTed to a function's URL; the answer is the final record and its log.

Secret values, resolved here from the caller's sources, travel only in the request's ``secrets``
field; mlrun warns before sending them over plain http to another machine.  A call has a total
deadline (``$MLRUN_REMOTE_TIMEOUT``: connect, send, wait, read the whole answer, retries included)
and the answer a size limit (``$MLRUN_REMOTE_MAX_ANSWER``), see ``mlrun.transport``.  A POST is
retried (a bounded number of times, with backoff) only when it cannot have run: the connection
failed, or a gateway answered 502/503/504 (nuclio's 503: no free worker).  Whatever happens the run
ends with a record: an unreachable, silent or dripping function, an answer too large or with no
record in it, leaves the run in state ``error`` with the reason.
"""
from __future__ import annotations

import functools
import json
import os
import sys
import threading
from urllib.parse import urlparse

try:
    import requests
except ImportError as exc:
    from ..registry import missing_dependency

    raise missing_dependency("running a function by URL", exc.name, "http") from exc
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from .. import transport
from ..errors import InvalidInputError, LimitExceededError
from ..model import RunRecord
from ..policy import is_loopback
from ..protocol import RUN_ANSWER_TYPE, SECRETS_FIELD, TOKEN_ENV, answer_error, read_answer
from ..secrets import SecretsStore
from .base import RunOutcome, Runtime

#: seconds a call may take in all, from connecting to the answer's last byte (default 600)
TIMEOUT_ENV = "MLRUN_REMOTE_TIMEOUT"
CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 600.0
#: bytes an answer may have (default 64 MiB); a larger one is refused, never held
MAX_ANSWER_ENV = "MLRUN_REMOTE_MAX_ANSWER"
DEFAULT_MAX_ANSWER = 64 * transport.MB
RETRIES = 3
#: waits between retries: none, then 0.5 s, then 1 s
BACKOFF_FACTOR = 0.25
ACCEPT = f"{RUN_ANSWER_TYPE}, application/json;q=0.9, application/yaml;q=0.8"

_sessions = threading.local()  # one per thread: keep-alive connections for repeated runs
_tokens: dict[str, str] = {}  # function URL -> its bearer token (``register_token``), before $MLRUN_FUNCTION_TOKEN


def register_token(url: str, token: str) -> None:
    """Send ``token`` to the function at ``url`` (a function this process deployed: ``fn.deploy()``)."""
    _tokens[url.rstrip("/")] = token


class RemoteRuntime(Runtime):
    kind = "remote"

    def validate(self, record: RunRecord) -> None:
        parsed = urlparse(self.target)
        if parsed.username or parsed.password:  # said without the URL, which holds them: it would be recorded
            raise InvalidInputError(f"the function URL must not carry credentials: set ${TOKEN_ENV} instead")
        if not parsed.hostname:
            raise InvalidInputError(f"function URL {self.target!r} has no host")
        if record.spec.runtime.get("handler"):
            raise InvalidInputError("--handler applies to files: a function URL runs the handler it serves")
        read_timeout()
        max_answer()

    def run(self, record: RunRecord, secrets: SecretsStore, rundb: str, stream: bool = True) -> RunOutcome:
        values, token = secrets.items(), _tokens.get(self.target.rstrip("/")) or os.environ.get(TOKEN_ENV, "")
        warn_plain_http(self.target, bool(values or token))
        payload = record.to_dict(copy=False)  # only serialised
        if values:
            payload[SECRETS_FIELD] = values
        headers = {"Content-Type": "application/json", "Accept": ACCEPT}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        timeout = read_timeout()
        try:
            answer = transport.request(_session(), "POST", self.target, deadline=timeout, deadline_env=TIMEOUT_ENV,
                                       limit=max_answer(), limit_env=MAX_ANSWER_ENV,
                                       data=json.dumps(payload).encode("utf-8"), headers=headers,
                                       timeout=(CONNECT_TIMEOUT, timeout), proxies=_proxies(self.target))
        except (transport.DeadlineExceeded, LimitExceededError) as exc:
            return RunOutcome(_failed(record, secrets, str(exc), self.target))
        except requests.RequestException as exc:
            return RunOutcome(_failed(record, secrets, f"{self.target}: {_reason(exc, timeout)}", self.target))
        final, log = self._read(record, answer, secrets)
        if stream and log:
            sys.stdout.write(log)
            sys.stdout.flush()
        return RunOutcome(final, log.encode("utf-8"))

    def _read(self, record: RunRecord, answer: requests.Response, secrets: SecretsStore) -> tuple[RunRecord, str]:
        where = f"{self.target} answered HTTP {answer.status_code}"
        try:
            data, log = read_answer(answer.headers.get("Content-Type", ""), answer.content)
            final = RunRecord.from_dict(secrets.mask_record(data), copy=False)  # fresh from JSON
        except InvalidInputError as exc:
            reason = answer_error(answer.content) if answer.status_code >= 400 else f"no run record in it ({exc})"
            return _failed(record, secrets, f"{where}: {reason}", self.target), ""
        # the caller's facts: the uid its store knows the run by, how it started it, where its secrets came from
        final.metadata.uid = record.uid
        final.spec.runtime = record.spec.runtime
        final.spec.secret_sources = record.spec.secret_sources
        if answer.status_code >= 400 and final.state != "error":
            final.fail(where)
        elif final.state in ("created", "running"):  # a handler that answers without ending its run
            final.complete()
        else:
            final.touch()
        return final, secrets.mask(log)


def _failed(record: RunRecord, secrets: SecretsStore, reason: str, target: str) -> RunRecord:
    """The run ended ``error`` for ``reason``, without a record from the function: named after its URL
    when the run names nothing (listings show which function failed rather than an empty name)."""
    final = record.copy()
    final.fail(secrets.mask(reason))
    if not final.metadata.name:
        final.metadata.name = secrets.mask(function_name(target))
    return final


def function_name(url: str) -> str:
    """``url`` as a run name: without credentials, query, fragment or a trailing slash."""
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc.rpartition('@')[2]}{parsed.path.rstrip('/')}"


def _reason(exc: requests.RequestException, timeout: float) -> str:
    """One line: why the function could not be reached, or did not answer."""
    if isinstance(exc, requests.ReadTimeout):
        return f"no answer within {timeout:g}s (set ${TIMEOUT_ENV} to wait longer)"
    chain = [exc]
    while chain[-1].__cause__ or chain[-1].__context__:  # down to the socket error under requests' and urllib3's
        chain.append(chain[-1].__cause__ or chain[-1].__context__)
    cause = chain[-1]
    text = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause)
    if isinstance(exc, requests.ConnectTimeout):
        text = f"no connection within {CONNECT_TIMEOUT:g}s"
    tried = any(isinstance(c, (NewConnectionError, ConnectTimeoutError)) for c in chain)
    return f"cannot reach the function: {' '.join(text.split())}" + (f" (tried {RETRIES + 1} times)" if tried else "")


def _session() -> requests.Session:
    session = getattr(_sessions, "session", None)
    # a forked child must not share its parent's keep-alive sockets: their requests would interleave
    if session is None or _sessions.pid != os.getpid():
        _sessions.pid = os.getpid()
        retry = transport.BoundedRetry(total=RETRIES, connect=RETRIES, read=False, status=RETRIES, other=0,
                      backoff_factor=BACKOFF_FACTOR, status_forcelist=(502, 503, 504),
                      allowed_methods=frozenset({"POST"}), raise_on_status=False,
                      respect_retry_after_header=False)  # a server's Retry-After could exceed our bounds
        session = _sessions.session = transport.session(retry)
        # requests reads proxies and CA bundles from the environment on every request (a large share
        # of a run's cost): read them here, once, and per function URL in _proxies
        session.trust_env = False
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return session


@functools.lru_cache(maxsize=256)
def _proxies(url: str) -> dict:
    """The proxies ``$HTTP(S)_PROXY`` / ``$NO_PROXY`` give for ``url``, as requests would pick them."""
    return requests.utils.get_environ_proxies(url)


def read_timeout() -> float:
    """The total deadline of a call, seconds: ``$MLRUN_REMOTE_TIMEOUT``, default 600."""
    return transport.env_seconds(TIMEOUT_ENV, DEFAULT_READ_TIMEOUT)


def max_answer() -> int:
    """The largest answer taken, bytes: ``$MLRUN_REMOTE_MAX_ANSWER``, default 64 MiB."""
    return transport.env_bytes(MAX_ANSWER_ENV, DEFAULT_MAX_ANSWER)


def warn_plain_http(url: str, sending_secrets: bool) -> bool:
    """Warn on stderr before secrets go unencrypted to another machine; ``True`` when it warned."""
    parsed = urlparse(url)
    if not sending_secrets or parsed.scheme != "http" or is_loopback(parsed.hostname or ""):
        return False
    print(f"mlrun: warning: sending secrets to {parsed.hostname} over plain http (unencrypted); use https://",
          file=sys.stderr)
    return True
