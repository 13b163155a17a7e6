"""The Flask application: the REST API, the web UI, ``/healthz``, token checks and errors as one-liners."""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from flask import Flask, current_app, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge

from ..context import error_message
from ..errors import AccessDeniedError, InvalidInputError, LimitExceededError, NotFoundError, StoreError
from ..model import check_uid
from ..policy import AccessPolicy
from ..rundb import RunDB, get_run_db
from .auth import TokenAuth
from .limits import MAX_BODY, MAX_RECORD

log = logging.getLogger("mlrun.server")

_PUBLIC_ENDPOINTS = ("healthz", "static", "ui.login", "ui.logout")
_PAGE_POLICY = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                "form-action 'self'; frame-ancestors 'none'")


def create_app(rundb: str | RunDB | None = None, token: str | None = None, artifact_roots: Iterable[str] = (),
               max_body: int = MAX_BODY, max_record: int = MAX_RECORD) -> Flask:
    """The server's WSGI app over the run store ``rundb`` (a URL, a ``RunDB``, or the default store).

    With ``token`` every API call needs ``Authorization: Bearer TOKEN`` and the UI asks for it once.
    Artifacts are served only from the store's own location and ``artifact_roots`` (``AccessPolicy``
    prefixes), whatever path a record claims.  Bodies over ``max_body`` and records over ``max_record``
    bytes are refused with 413.
    """
    from . import api, catalog, views

    app = Flask(__name__)
    db = rundb if isinstance(rundb, RunDB) else get_run_db(rundb)
    app.config["MLRUN_DB"] = db
    app.config["MLRUN_AUTH"] = TokenAuth(token) if token else None
    app.config["MLRUN_ARTIFACT_ROOTS"] = AccessPolicy([*filter(None, [store_root(db)]), *artifact_roots])
    app.config["MLRUN_MAX_RECORD"] = max_record
    app.config["MAX_CONTENT_LENGTH"] = max_body
    app.json.sort_keys = False  # records keep their metadata/spec/status order
    app.register_blueprint(api.bp, url_prefix="/api")
    app.register_blueprint(views.bp)
    app.register_blueprint(catalog.bp)
    app.add_url_rule("/healthz", "healthz", lambda: {"status": "ok"})
    app.before_request(_check_token)
    app.after_request(_security_headers)
    app.register_error_handler(Exception, _error_response)
    return app


def store_root(db: RunDB) -> str | None:
    """Where the store keeps its own files (a local folder, ``s3://bucket/prefix``): an artifact root by default."""
    dirpath = getattr(db, "dirpath", None)
    if dirpath:
        return dirpath
    return db.url if db.url.lower().startswith("s3://") else None


def _check_token():
    auth = current_app.config["MLRUN_AUTH"]
    if auth is None or request.endpoint in _PUBLIC_ENDPOINTS or auth.allows(request):
        return None
    if _wants_json():
        response = jsonify(error="missing or wrong token (send 'Authorization: Bearer TOKEN')", field="token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="mlrun"'
        return response, 401
    return redirect(url_for("ui.login", next=request.full_path.rstrip("?")))


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
    if isinstance(exc, RequestEntityTooLarge):
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
    elif isinstance(exc, StoreError):
        status, message = 503, str(exc)
        log.error("%s %s: %s", request.method, request.path, message)
    else:
        status, message = 500, "internal server error (the server log has the details)"
        log.error("%s %s failed: %s", request.method, request.path, error_message(exc),
                  exc_info=log.isEnabledFor(logging.DEBUG))
    message = " ".join(str(message).split())  # one line, whatever the exception held
    if _wants_json():
        body = {"error": message}
        if field:
            body["field"] = field
        return jsonify(body), status
    return render_template("error.html", status=status, message=message), status


def body_too_large(limit: int) -> str:
    return f"request body is larger than the server's limit of {limit:,} bytes (--max-body-size)"


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

    shown = f"[{host}]" if ":" in host else host
    guard = "token required" if app.config["MLRUN_AUTH"] else "no token"
    max_body = app.config["MAX_CONTENT_LENGTH"]
    _one_line_body_refusals(max_body)
    # waitress refuses a body of its limit or more; the app, one over its limit
    app.config["MLRUN_DB"].close()  # each worker connects on its own: no connection crosses a fork
    run_server(app, host=host, port=port, threads=threads, workers=workers, max_request_body_size=max_body + 1,
               announce=lambda effective_port: announce(
                   f"mlrun server: serving runs from {app.config['MLRUN_DB'].url} on "
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
