"""The optional shared token: API clients send ``Authorization: Bearer TOKEN``; browsers log in once.

The UI's cookie holds an HMAC derived from the token, never the token itself, and it opens
reads only (GET/HEAD): a page on another site cannot make a logged-in browser change runs.
"""
from __future__ import annotations

import hashlib
import hmac

COOKIE = "mlrun_session"


class TokenAuth:
    def __init__(self, token: str):
        if not token:
            raise ValueError("empty token")
        self._token = token.encode("utf-8")
        self.session_value = hmac.new(self._token, b"mlrun-ui-session", hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "TokenAuth(***)"

    def token_matches(self, presented: str) -> bool:
        return hmac.compare_digest(presented.encode("utf-8"), self._token)

    def allows(self, request) -> bool:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return self.token_matches(value.strip())
        cookie = request.cookies.get(COOKIE, "")
        return (request.method in ("GET", "HEAD") and bool(cookie)
                and hmac.compare_digest(cookie.encode("utf-8"), self.session_value.encode("ascii")))
