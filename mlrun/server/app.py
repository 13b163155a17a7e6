"""The Flask application: the REST API, the web UI, ``/healthz``, token checks and errors as one-liners."""
from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from ..context import error_message
from ..errors import InvalidInputError, NotFoundError, StoreError
from ..rundb import RunDB, get_run_db
from .auth import TokenAuth

log = logging.getLogger("mlrun.server")

#: the largest request body accepted (a record with long metric histories, a log chunk)
MAX_BODY = 256 * 1024 * 1024
_PUBLIC_ENDPOINTS = ("healthz", "static", "ui.login", "ui.logout")
_PAGE_POLICY = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                "form-action 'self'; frame-ancestors 'none'")


def create_app(store: str | RunDB | None = None, token: str | None = None) -> Flask:
    """The server's WSGI app over the run store ``store`` (a URL, a ``RunDB``, or the default store).

    With ``token`` every API call needs ``Authorization: Bearer TOKEN`` and the UI asks for it once.
    """
    from . import api, views

    app = Flask(__name__)
    app.config["MLRUN_DB"] = store if isinstance(store, RunDB) else get_run_db(store)
    app.config["MLRUN_AUTH"] = TokenAuth(token) if token else None
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.json.sort_keys = False  # records keep their metadata/spec/status order
    app.register_blueprint(api.bp, url_prefix="/api")
    app.register_blueprint(views.bp)
    app.add_url_rule("/healthz", "healthz", lambda: {"status": "ok"})
    app.before_request(_check_token)
    app.after_request(_security_headers)
    app.register_error_handler(Exception, _error_response)
    return app


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
    if isinstance(exc, HTTPException):
        status, message = exc.code or 500, exc.description or exc.name
    elif isinstance(exc, NotFoundError):
        status, message = 404, str(exc)
    elif isinstance(exc, InvalidInputError):
        status, message = 400, str(exc)
    elif isinstance(exc, StoreError):
        status, message = 503, str(exc)
        log.error("%s %s: %s", request.method, request.path, message)
    else:
        status, message = 500, "internal server error (the server log has the details)"
        log.error("%s %s failed: %s", request.method, request.path, error_message(exc),
                  exc_info=log.isEnabledFor(logging.DEBUG))
    if _wants_json():
        body = {"error": message}
        if field:
            body["field"] = field
        return jsonify(body), status
    return render_template("error.html", status=status, message=message), status


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


def serve(app: Flask, host: str = "127.0.0.1", port: int = 8080, threads: int = 8, announce=print) -> None:
    """Serve ``app`` on waitress until interrupted; ``announce`` gets the line saying where."""
    from ..wsgi import run_server

    shown = f"[{host}]" if ":" in host else host
    guard = "token required" if app.config["MLRUN_AUTH"] else "no token"
    run_server(app, host=host, port=port, threads=threads, max_request_body_size=MAX_BODY,
               announce=lambda effective_port: announce(
                   f"mlrun server: serving runs from {app.config['MLRUN_DB'].url} on "
                   f"http://{shown}:{effective_port}/ ({guard})"))
