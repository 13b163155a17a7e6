"""The optional shared token: API clients send ``Authorization: Bearer TOKEN``; browsers log in once.

A login starts a session: the UI's cookie holds a random session id (never the token, nor anything
derived from it), known to the server until logout or expiry, so logging out ends it for good.
Sessions live in a private folder of the server's, shared by its worker processes.  The cookie opens
reads only (GET/HEAD): a page on another site cannot make a logged-in browser change runs.

Wrong tokens (an API call's or a login's) slow their sender down: after a few, that client's
attempts are refused (429) for a time that doubles with each further failure (``Backoff``).
"""
from __future__ import annotations

import atexit
import contextlib
import hashlib
import hmac
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict

COOKIE = "mlrun_session"
#: how long a session lasts without logout (the cookie's max-age)
SESSION_MAX_AGE = 7 * 24 * 3600


class TooManyAttempts(Exception):
    """A client that sent too many wrong tokens lately; ``retry_after`` seconds until it may try again."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many wrong tokens from this client: try again in {retry_after}s")
        self.retry_after = retry_after


class Backoff:
    """Per-client failure counts: ``free`` failures cost nothing, each one after that locks the client out
    for twice as long as the last (up to ``longest`` seconds); a success or ``forget_after`` quiet seconds
    clear the count.  At most ``clients`` are remembered (the least recent are forgotten)."""

    def __init__(self, free: int = 5, longest: float = 60.0, forget_after: float = 900.0, clients: int = 10000):
        self.free, self.longest, self.forget_after, self.clients = free, longest, forget_after, clients
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()  # client -> (count, locked until)
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        """Raise ``TooManyAttempts`` while ``client`` is locked out."""
        with self._lock:
            count, until = self._failures.get(client, (0, 0.0))
        wait = until - time.monotonic()
        if wait > 0:
            raise TooManyAttempts(int(wait) + 1)

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            count, until = self._failures.pop(client, (0, 0.0))
            if now - until > self.forget_after:
                count = 0
            count += 1
            lock = min(self.longest, 2.0 ** (count - self.free - 1)) if count > self.free else 0.0
            self._failures[client] = (count, now + lock)
            while len(self._failures) > self.clients:
                self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


class TokenAuth:
    def __init__(self, token: str, secure_cookie: bool = False):
        if not token:
            raise ValueError("empty token")
        self._token = token.encode("utf-8")
        #: mark the cookie ``Secure`` whatever the request's scheme: the server is behind a TLS proxy
        self.secure_cookie = secure_cookie
        self.backoff = Backoff()
        self._sessions = tempfile.mkdtemp(prefix="mlrun-sessions-")  # 0700: this user's only
        atexit.register(shutil.rmtree, self._sessions, True)

    def __repr__(self) -> str:
        return "TokenAuth(***)"

    def token_matches(self, presented: str, client: str = "") -> bool:
        """Whether ``presented`` is the token; counts failures per ``client`` (``TooManyAttempts`` when locked out)."""
        self.backoff.check(client)
        if hmac.compare_digest(presented.encode("utf-8"), self._token):
            self.backoff.succeeded(client)
            return True
        self.backoff.failed(client)
        return False

    def allows(self, request) -> bool:
        return self.allows_headers(request.method, request.headers.get("Authorization", ""),
                                   request.cookies.get(COOKIE, ""), request.remote_addr or "")

    def allows_headers(self, method: str, authorization: str, session: str, client: str) -> bool:
        """A bearer token opens everything; a session cookie, reads."""
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            return self.token_matches(value.strip(), client)
        return method in ("GET", "HEAD") and self.has_session(session)

    # -- sessions: one file per session, named by a hash of its id -------------------------------
    def _session_path(self, session: str) -> str:
        return os.path.join(self._sessions, hashlib.sha256(session.encode("utf-8")).hexdigest())

    def start_session(self) -> str:
        """A new session's id, for the cookie."""
        self._expire_sessions()
        session = secrets.token_urlsafe(32)
        with open(os.open(self._session_path(session), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb"):
            pass
        return session

    def has_session(self, session: str) -> bool:
        if not session or len(session) > 128:
            return False
        try:
            return time.time() - os.stat(self._session_path(session)).st_mtime < SESSION_MAX_AGE
        except OSError:
            return False

    def end_session(self, session: str) -> None:
        if session and len(session) <= 128:
            with contextlib.suppress(OSError):
                os.unlink(self._session_path(session))

    def _expire_sessions(self) -> None:
        cutoff = time.time() - SESSION_MAX_AGE
        with os.scandir(self._sessions) as entries:
            for entry in entries:
                try:
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                except OSError:
                    pass
