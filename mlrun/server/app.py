"""The Flask application: the REST API, the web UI, ``/healthz``, ``/ready``, token checks, errors as one-liners."""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable

from flask import Flask, current_app, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge

from ..context import error_message
from ..errors import (
    AccessDeniedError,
    InvalidInputError,
    InvalidSpecError,
    LimitExceededError,
    NotFoundError,
    StoreError,
)
from ..model import check_uid
from ..policy import AccessPolicy
from ..rundb import RunDB, get_run_db
from ..rundb.postgres import mask_password
from .auth import COOKIE, TokenAuth, TooManyAttempts
from .limits import MAX_BODY, MAX_PUBLIC_BODY, MAX_RECORD

log = logging.getLogger("mlrun.server")

_PUBLIC_ENDPOINTS = ("healthz", "ready", "static", "ui.login", "ui.logout")
_PUBLIC_PATHS = ("/healthz", "/ready", "/login", "/logout")  # the same, as paths: before routing (and /static/)
STORE_FAILED = "the run store failed (the server log has the details)"
_TOKEN_MISSING = "missing or wrong token (send 'Authorization: Bearer TOKEN')"
_PAGE_POLICY = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                "form-action 'self'; frame-ancestors 'none'")


def create_app(rundb: str | RunDB | None = None, token: str | None = None, artifact_roots: Iterable[str] = (),
               max_body: int = MAX_BODY, max_record: int = MAX_RECORD, behind_tls: bool = False) -> Flask:
    """The server's WSGI app over the run store ``rundb`` (a URL, a ``RunDB``, or the default store).

    With ``token`` every API call needs ``Authorization: Bearer TOKEN`` and the UI asks for it once.
    Artifacts are served only from the store's own location and ``artifact_roots`` (``AccessPolicy``
    prefixes), whatever path a record claims.  Bodies over ``max_body`` and records over ``max_record``
    bytes are refused with 413.  ``behind_tls``: browsers reach the server over HTTPS (a TLS proxy in
    front), so the login cookie is marked ``Secure``.
    """
    from . import api, catalog, views

    app = Flask(__name__)
    db = rundb if isinstance(rundb, RunDB) else get_run_db(rundb)
    app.config["MLRUN_DB"] = db
    app.config["MLRUN_STORE_SHOWN"] = mask_password(db.url, db.url)  # pages and the start line: no password
    app.config["MLRUN_AUTH"] = TokenAuth(token, secure_cookie=behind_tls) if token else None
    app.config["MLRUN_STORE_ROOT"] = store_root(db)
    app.config["MLRUN_ARTIFACT_ROOTS"] = AccessPolicy([*filter(None, [store_root(db)]), *artifact_roots])
    # how the UI tells the command that also serves a run's artifacts (``views.server_command``)
    app.config["MLRUN_START_DIR"] = os.path.realpath(os.getcwd())
    app.config["MLRUN_STORE_ARG"] = None if rundb is None else os.path.abspath(db.dirpath) \
        if getattr(db, "dirpath", None) else app.config["MLRUN_STORE_SHOWN"]
    app.config["MLRUN_MAX_RECORD"] = max_record
    app.config["MAX_CONTENT_LENGTH"] = max_body
    app.json.sort_keys = False  # records keep their metadata/spec/status order
    app.register_blueprint(api.bp, url_prefix="/api")
    app.register_blueprint(views.bp)
    app.register_blueprint(catalog.bp)
    from .health import StoreHealth, healthz, ready

    app.config["MLRUN_HEALTH"] = StoreHealth(db)
    app.add_url_rule("/healthz", "healthz", healthz)  # 503 while the store is unreachable
    app.add_url_rule("/ready", "ready", ready)  # reaches the store now, within a deadline
    app.before_request(_start_periodic_check)
    app.before_request(_check_token)
    app.before_request(_check_query)
    app.after_request(_security_headers)
    app.register_error_handler(Exception, _error_response)
    return app


def store_root(db: RunDB) -> str | None:
    """Where the store keeps its own files (a local folder, ``s3://bucket/prefix``): an artifact root by default."""
    dirpath = getattr(db, "dirpath", None)
    if dirpath:
        return dirpath
    return db.url if db.url.lower().startswith("s3://") else None


def _start_periodic_check():
    current_app.config["MLRUN_HEALTH"].start_periodic()  # in the process serving: a forked worker starts its own


def _check_token():
    auth = current_app.config["MLRUN_AUTH"]
    if auth is None or request.endpoint in _PUBLIC_ENDPOINTS or auth.allows(request):
        return None
    if _wants_json():
        response = jsonify(error=_TOKEN_MISSING, field="token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="mlrun"'
        return response, 401
    return redirect(url_for("ui.login", next=request.full_path.rstrip("?")))


def _check_query():
    if b"%00" in request.query_string or b"\x00" in request.query_string:  # no store keeps one; PostgreSQL fails
        name = next((key for key, values in request.args.lists() if any("\x00" in v for v in [key, *values])), "")
        raise InvalidSpecError(f"query parameter {name!r} holds a NUL character (%00)", name)


def admission(app: Flask):
    """What the server answers from a request's headers alone, before reading its body (``run_server``'s
    ``admit``): a body without valid credentials is refused (401), and one sent to a public page (the
    login form) may be small only, so no unauthenticated client makes the server read, buffer or spool much."""
    from ..adapters.wsgi import Refusal

    auth = app.config["MLRUN_AUTH"]
    if auth is None:
        return None

    def admit(head):
        path, headers = head.path, head.headers
        if path in _PUBLIC_PATHS or path.startswith("/static/"):
            length = int(headers.get("CONTENT_LENGTH") or 0)
            if "TRANSFER_ENCODING" in headers or length > MAX_PUBLIC_BODY:
                return Refusal.json(413, "Content Too Large", body_too_large(MAX_PUBLIC_BODY, "without a token"),
                                    "body")
            return None
        try:
            if auth.allows_headers(head.method, headers.get("AUTHORIZATION", ""),
                                   _cookie(headers.get("COOKIE", "")), head.client):
                return None
        except TooManyAttempts as exc:
            return Refusal.json(429, "Too Many Requests", str(exc), "token", (("Retry-After", str(exc.retry_after)),))
        return Refusal.json(401, "Unauthorized", _TOKEN_MISSING, "token",
                            (("WWW-Authenticate", 'Bearer realm="mlrun"'),))

    return admit


def _cookie(header: str) -> str:
    """The session cookie's value from a ``Cookie`` header."""
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value.strip('"')
    return ""


def _security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", _PAGE_POLICY)
    return response


def _error_response(exc: Exception):
    """Every failure as one line, JSON for the API, a page for the UI; never a traceback to a client."""
    field = getattr(exc, "field", "")
    if isinstance(exc, NotFound) and request.url_rule is None:
        exc = _bad_uid_in_path() or exc
        field = getattr(exc, "field", "")
    if isinstance(exc, TooManyAttempts):
        status, field, message = 429, "token", str(exc)
    elif isinstance(exc, RequestEntityTooLarge):
        status, field = 413, "body"
        message = body_too_large(current_app.config["MAX_CONTENT_LENGTH"])
    elif isinstance(exc, HTTPException):
        status, message = exc.code or 500, exc.description or exc.name
    elif isinstance(exc, NotFoundError):
        status, message = 404, str(exc)
    elif isinstance(exc, AccessDeniedError):
        status, message = 403, str(exc)
    elif isinstance(exc, LimitExceededError):
        status, message = 413, str(exc)
    elif isinstance(exc, InvalidInputError):
        status, message = 400, str(exc)
    elif isinstance(exc, StoreError):  # its text names the store's files or host: for the operator's eyes only
        status, message = 503, STORE_FAILED
        log.error("%s %s: %s", request.method, request.path, exc)
    else:
        status, message = 500, "internal server error (the server log has the details)"
        log.error("%s %s failed: %s", request.method, request.path, error_message(exc),
                  exc_info=log.isEnabledFor(logging.DEBUG))
    message = " ".join(str(message).split())  # one line, whatever the exception held
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else {}
    if _wants_json():
        body = {"error": message}
        if field:
            body["field"] = field
        return jsonify(body), status, headers
    return render_template("error.html", status=status, message=message), status, headers


def body_too_large(limit: int, why: str = "(--max-body-size)") -> str:
    return f"request body is larger than the server's limit of {limit:,} bytes {why}"


def _bad_uid_in_path():
    """The uid check's error for a path under ``/api/runs/`` or ``/runs/`` that no route took because its uid
    holds a slash (``/api/runs/../../x/log``); ``None`` for any other unknown path."""
    path = request.path
    for prefix in ("/api/runs/", "/runs/"):
        if path.startswith(prefix):
            uid = path[len(prefix):].split("/artifacts/", 1)[0].removesuffix("/log")
            try:
                check_uid(uid, "uid")
            except InvalidInputError as exc:
                return exc
    return None


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


def serve(app: Flask, host: str = "127.0.0.1", port: int = 8080, threads: int = 8, announce=print,
          workers: int = 1) -> None:
    """Serve ``app`` on waitress until interrupted; ``announce`` gets the line saying where."""
    from ..adapters.wsgi import run_server

    app.config.update(MLRUN_HOST=host, MLRUN_THREADS=threads, MLRUN_WORKERS=workers)  # for views.server_command
    shown = f"[{host}]" if ":" in host else host
    guard = "token required" if app.config["MLRUN_AUTH"] else "no token"
    max_body = app.config["MAX_CONTENT_LENGTH"]
    _one_line_body_refusals(max_body)
    # waitress refuses a body of its limit or more; the app, one over its limit
    app.config["MLRUN_DB"].close()  # each worker connects on its own: no connection crosses a fork
    store_shown = app.config["MLRUN_STORE_SHOWN"]
    run_server(app, host=host, port=port, threads=threads, workers=workers, max_request_body_size=max_body + 1,
               admit=admission(app),
               announce=lambda effective_port: announce(
                   f"mlrun server: serving runs from {store_shown} on "
                   f"http://{shown}:{effective_port}/ ({guard}" + (f", {workers} workers)" if workers > 1 else ")")))


def _one_line_body_refusals(limit: int) -> None:
    """Make waitress refuse an oversized body (one it turns away before the app sees it, as it should: the body is
    never buffered) with the same one-line JSON reason as the app, not its multi-line text page."""
    import waitress.parser
    from waitress.utilities import RequestEntityTooLarge as Refusal

    class BodyTooLarge(Refusal):
        def to_response(self, ident=None):
            body = json.dumps({"error": body_too_large(limit), "field": "body"}).encode("utf-8")
            return f"{self.code} {self.reason}", [("Content-Type", "application/json")], body

    # this process serves one app: waitress's parser names the class it raises at module level
    waitress.parser.RequestEntityTooLarge = BodyTooLarge
