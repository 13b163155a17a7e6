"""Serve a handler over HTTP: a Flask app on waitress (``mlrun serve FILE[:HANDLER]``).

The handler is a plain ``fn(ctx)`` or a nuclio ``handler(context, event)``; either way it is
called the nuclio way, with nuclio-sdk's own ``Event``, ``Context`` and ``Logger``, so code that
runs here runs unchanged on nuclio.  ``POST`` (any path) runs it and answers as the nuclio
adapter does (see ``events``); ``GET /healthz`` answers ``{"status": "ok"}``.

Requests the handler should never see are refused first: a missing or wrong bearer token (401),
a body over the limit (413), a body that is not JSON or YAML (400).  A spec with a field of the
wrong type gets 400 naming it (found when the handler builds its context).  A handler that raises
gets 500 with the run record in state ``error``; a run refused by the access policy (``mlrun.policy``:
``--allow``, the handler's folder, ``--out-path``) gets 403 with that record, its reason as the error.
Every request leaves one access-log line on stderr.
"""
from __future__ import annotations

import hmac
import itertools
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import AccessDeniedError, InvalidInputError, InvalidSpecError, error_message
from ..loader import load_function, locate_handler
from ..model import RunRecord, now_iso
from ..policy import is_loopback
from ..protocol import (
    DEFAULT_MAX_BODY_SIZE,
    JSON_TYPE,
    RUN_ANSWER_TYPE,
    SECRETS_FIELD,
    TOKEN_ENV,
    answer_type,
    input_error_status,
    render_error,
    render_run,
    spec_from_event,
)
from ..secrets import mask, mask_bytes, write_own
from .capture import capture_output, install, print_exception
from .nuclio import nuclio_handler

_UNAUTHORIZED = "missing or wrong bearer token"


def load_handler(target: str, name: str = "") -> tuple[Callable, Any, str]:
    """``FILE[:HANDLER]`` (default handler: ``handler``) -> ``(nuclio-style handler, its module, run name)``.

    A plain ``fn(ctx)`` is wrapped with ``nuclio_handler``.  Runs are named ``name``, else after
    the file (as ``mlrun run --handler`` names them), unless the request or the code names them.
    """
    fn, module, path, nuclio_style = load_function(target)
    name = name or os.path.splitext(os.path.basename(path))[0]
    return (fn if nuclio_style else nuclio_handler(fn, name=name)), module, name


class _Function:
    """The served handler, called the nuclio way: one nuclio context per server thread, like nuclio's
    workers (``init_context`` runs once in each), an event per request, nuclio's reading of the answer."""

    def __init__(self, handler: Callable, module=None, name: str = ""):
        import logging

        import nuclio_sdk

        self.handler, self.name = handler, name
        install()  # the logger's stream must be the routed stdout, so each run's log gets its lines
        self._logger = nuclio_sdk.Logger(logging.DEBUG, "mlrun.function")
        self._logger.set_handler("mlrun", sys.stdout, nuclio_sdk.logger.HumanReadableFormatter())
        self._platform = nuclio_sdk.Platform("local")
        self._trigger = nuclio_sdk.TriggerInfo("http", "mlrun-serve")
        self._init = getattr(module, "init_context", None)
        self._local = threading.local()
        self._worker_ids = itertools.count()

    def _context(self):
        context = getattr(self._local, "context", None)
        if context is None:
            import nuclio_sdk

            context = nuclio_sdk.Context(self._logger, self._platform, worker_id=next(self._worker_ids))
            if self._init is not None:
                self._init(context)
            self._local.context = context
        return context

    def __call__(self, request, raw: bytes, spec: dict, secrets: dict, accept_type: str) -> tuple[int, str, Any]:
        """Run the handler on a request already checked; ``(status, content type, body)`` to answer with."""
        import nuclio_sdk

        event_body = raw
        if request.mimetype == JSON_TYPE:  # as nuclio does: JSON bodies arrive decoded
            event_body = {**spec, SECRETS_FIELD: secrets} if secrets else spec
        event = nuclio_sdk.Event(body=event_body, content_type=request.content_type, headers=_headers(request.environ),
                                 method=request.method, path=request.path, size=len(raw),
                                 trigger=self._trigger, timestamp=time.time())
        output = failure = None
        with capture_output() as out:
            try:
                output = self.handler(self._context(), event)
            except InvalidSpecError:
                raise
            except (Exception, SystemExit) as exc:  # the caller gets an error record, the server keeps serving
                if not isinstance(exc, AccessDeniedError):  # a refusal is one line, not a bug's traceback
                    print_exception(exc, out)
                failure = exc
        log, answered, body = mask(out.getvalue(), secrets), None, ""
        if failure is not None:
            answered = _error_record(spec, self.name, error_message(failure))
            status, content_type = 403 if isinstance(failure, AccessDeniedError) else 500, accept_type
        else:
            status, content_type, body = _nuclio_answer(output)
            if accept_type in (RUN_ANSWER_TYPE, JSON_TYPE) and not content_type.startswith(accept_type):
                try:  # a nuclio handler answers with its record as text (the seed's ``ctx.to_yaml()``)
                    answered = RunRecord.from_text(body, "the handler's answer").to_dict()  # masked whole below
                    content_type = accept_type
                except InvalidInputError:
                    pass
            if answered is None and not getattr(self.handler, "masks_answer", False):
                body = mask_bytes(body, secrets) if isinstance(body, bytes) else mask(body, secrets)
        if answered is not None:
            body = render_run(answered, log, accept_type, secrets)
        if log and not (answered is not None and accept_type == RUN_ANSWER_TYPE):
            write_own(sys.stdout, log)  # not sent back: the server's console shows it instead, hiding no other's
            sys.stdout.flush()
        return status, content_type, body


def create_app(handler: Callable, module=None, name: str = "", token: str = "",
               max_body_size: int = DEFAULT_MAX_BODY_SIZE):
    """A Flask app running ``handler(context, event)`` for every POST (see the module's docstring).

    ``module`` is the handler's module (its ``init_context`` runs once per server thread); ``name``
    names the error record of a failing run that named none.
    """
    from flask import Flask, Response
    from flask import request as request_proxy
    from werkzeug.exceptions import RequestEntityTooLarge

    app = Flask("mlrun.serve")
    app.config["MAX_CONTENT_LENGTH"] = max_body_size
    function = _Function(handler, module, name)
    current_request = request_proxy._get_current_object

    def error(status: int, message: str, accept_type: str, headers=None) -> Response:
        content_type, body = render_error(message, accept_type)
        return Response(body, status=status, content_type=content_type, headers=headers)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.post("/", defaults={"path": ""})
    @app.post("/<path:path>")
    def run(path):
        request = current_request()  # the object itself: each access through Flask's proxy costs
        accept_type = answer_type(request.headers.get("Accept", ""))
        if token and not _authorized(request.headers.get("Authorization", ""), token):
            return error(401, _UNAUTHORIZED, accept_type, {"WWW-Authenticate": "Bearer"})
        try:
            raw = request.get_data()
        except RequestEntityTooLarge:
            return error(413, f"request body is larger than the limit of {max_body_size} bytes", accept_type)
        try:  # a body that is not even JSON or YAML never reaches the handler
            spec, secrets = spec_from_event(raw)
        except InvalidInputError as exc:
            return error(input_error_status(exc), str(exc), accept_type)
        try:
            status, content_type, body = function(request, raw, spec, secrets, accept_type)
        except InvalidSpecError as exc:  # the handler's get_or_create_ctx found the spec malformed
            return error(input_error_status(exc), str(exc), accept_type)
        return Response(body, status=status, content_type=content_type)

    return app


def _headers(environ: dict) -> dict:
    """The request's headers as nuclio hands them over (a plain dict), read from the WSGI environ.

    What ``dict(request.headers)`` gives, at a tenth of its cost: it is paid on every request.
    """
    headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items() if key[:5] == "HTTP_"}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").title()] = environ[key]
    return headers


def admission(token: str, access_log: AccessLog):
    """``run_server``'s ``admit``: with a token, a request without it is refused from its headers, its body
    unread (and logged in ``access_log`` as the app's answers are)."""
    if not token:
        return None
    from .wsgi import Refusal

    def admit(head):
        if _authorized(head.headers.get("AUTHORIZATION", ""), token):
            return None
        content_type, body = render_error(_UNAUTHORIZED, answer_type(head.headers.get("ACCEPT", "")))
        access_log.write(head.client, head.method, head.path, head.protocol, "401", str(len(body)), 0.0)
        return Refusal(401, "Unauthorized", body.encode("utf-8"),
                       (("Content-Type", content_type), ("WWW-Authenticate", "Bearer")))

    return admit


def _authorized(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _nuclio_answer(output) -> tuple[int, str, str | bytes]:
    """``(status, content type, body)`` from what a nuclio handler returned, as nuclio reads it (not masked yet)."""
    import nuclio_sdk

    answer = nuclio_sdk.Response.from_entrypoint_output(_json_encode, output)
    status, content_type, body = answer["status_code"], answer["content_type"], answer["body"]
    if answer["body_encoding"] == "base64":
        import base64

        return status, content_type, base64.b64decode(body)
    return status, content_type, body


def _error_record(spec: dict, name: str, error: str) -> dict:
    """The record of a run whose handler raised before it could answer with one."""
    import uuid

    record = RunRecord.from_dict(spec)
    meta, status = record.metadata, record.status
    meta.name, meta.uid = meta.name or name, meta.uid or uuid.uuid4().hex
    status.start_time = status.start_time or now_iso()
    record.fail(error)
    return record.to_dict()


def _json_encode(data) -> str:
    return json.dumps(data, default=str)


class AccessLog:
    """WSGI middleware: one line per request, ``host "METHOD /path HTTP/1.1" status bytes time``."""

    def __init__(self, app, stream=None):
        self.app = app
        self.stream = stream or sys.stderr

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        seen = {"status": "-", "length": "-"}

        def recording_start_response(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            seen["length"] = next((v for k, v in headers if k.lower() == "content-length"), "-")
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, recording_start_response)
        finally:
            self.write(environ.get("REMOTE_ADDR", "-"), environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", ""),
                       environ.get("SERVER_PROTOCOL"), seen["status"], seen["length"],
                       (time.perf_counter() - started) * 1000)

    def write(self, client, method, path, protocol, status: str, length: str, elapsed_ms: float) -> None:
        """One request's line."""
        line = f'{client} "{method} {path} {protocol}" {status} {length} {elapsed_ms:.1f}ms\n'
        # one write per whole line, and no lock: Python's streams never split one write between
        # threads, and a lock held across the write's syscall would queue every request behind it
        write_own(self.stream, line)  # no request's secret values hide in it: they are not the server's
        self.stream.flush()


def _serving_policy(target: str, allow: Iterable[str] | None, out_path: str, name: str):
    """The served function's access policy: its folder read only, ``out_path`` (else a fresh folder) writable."""
    from ..policy import AccessPolicy

    handler_file = locate_handler(target)[0]
    return AccessPolicy.serving(allow, out_path, os.path.dirname(os.path.abspath(handler_file)),
                                name=name or os.path.splitext(os.path.basename(handler_file))[0])


def serve(target: str, host: str = "127.0.0.1", port: int = 8080, threads: int = 4, token: str = "",
          max_body_size: int = DEFAULT_MAX_BODY_SIZE, name: str = "", workers: int = 1,
          allow: Iterable[str] | None = None, out_path: str = "", insecure: bool = False) -> None:
    """Serve ``FILE[:HANDLER]`` with waitress until interrupted (SIGINT or SIGTERM).

    ``workers`` processes (each with ``threads`` threads) share the port: more than one lets
    CPU-bound handlers use more than one core.  Runs may read the handler's folder and read and
    write ``out_path`` (default ``$MLRUN_OUT_PATH``, else a fresh folder under ``$MLRUN_HOME/serve``) and what ``allow``
    (default ``$MLRUN_SERVE_ALLOW``) names (``mlrun.policy.AccessPolicy.serving``).  A host other
    than this machine needs a token, unless ``insecure``: checked before anything else.
    """
    from .wsgi import check_listen

    check_listen(host, token, insecure)
    try:
        import flask  # noqa: F401
        import nuclio_sdk  # noqa: F401
        import waitress  # noqa: F401
    except ImportError as exc:
        from ..registry import missing_dependency

        raise missing_dependency("mlrun serve", exc.name, "server") from None
    from ..policy import configure_serving

    policy = _serving_policy(target, allow, out_path, name)
    handler, module, name = load_handler(target, name)
    configure_serving(policy)  # before the first request, and before forking workers: every run built from an event
    app = create_app(handler, module, name=name, token=token, max_body_size=max_body_size)
    processes = f"{workers} processes x {threads} threads" if workers > 1 else f"{threads} threads"
    lines = [f"serving {target} on {{where}} with {processes}",
             f"runs may use {policy.describe()}"
             + ("" if policy.allow_any else "; s3:// with the request's own credentials; public http(s)://"),
             f"runs write their artifacts to {policy.out_path}"]
    serve_app(app, lines, "run the function", host=host, port=port, threads=threads, workers=workers, token=token,
              max_body_size=max_body_size)


def serve_app(app, lines: list[str], callers_may: str, host: str, port: int, threads: int, workers: int,
              token: str, max_body_size: int) -> None:
    """Serve a WSGI ``app`` of ``mlrun serve`` (one access-log line per request) until SIGINT or SIGTERM.

    ``lines`` are announced on stderr once it listens (``{where}``: its URL); without a token beyond
    loopback a warning says that anyone who reaches it may ``callers_may``.
    """
    import logging

    from .wsgi import run_server

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # a busy server is not an error

    def announce(effective_port: int) -> None:
        where = f"http://{host}:{effective_port}"
        for line in lines:
            print(f"mlrun serve: {line.replace('{where}', where)}", file=sys.stderr, flush=True)
        if not token and not is_loopback(host):
            print(f"mlrun serve: warning: no token: anyone who can reach {where} can {callers_may} "
                  f"(set ${TOKEN_ENV} or --token)", file=sys.stderr, flush=True)

    # waitress refuses far larger bodies itself, before buffering them; the app answers the rest
    app = AccessLog(app)
    run_server(app, host=host, port=port, threads=threads, workers=workers,
               max_request_body_size=max_body_size + 64 * 1024, announce=announce, admit=admission(token, app))
    print("mlrun serve: stopped", file=sys.stderr, flush=True)
