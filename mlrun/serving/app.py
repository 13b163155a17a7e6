"""A serving function over HTTP: the V2 routes in a Flask app on waitress (``mlrun serve function.yaml``,
``mlrun serve-model MODEL``).

It is served the way every function is (``mlrun.adapters``): a token required beyond loopback and
checked on every request but ``GET /healthz`` (401), bodies over ``--max-body-size`` refused (413), one
access-log line per request, the same workers and threads.  Models are read only where the function's
access policy allows (``--allow``, the spec file's folder, ``--out-path``), each within the model size
limit, and every one is loaded before the port opens.
"""
from __future__ import annotations

import os
from collections.abc import Iterable

from ..protocol import DEFAULT_MAX_BODY_SIZE
from .router import PREFIX, ModelRouter, render
from .spec import DEFAULT_CLASS, ServingSpec


def create_app(router: ModelRouter, token: str = "", max_body_size: int = DEFAULT_MAX_BODY_SIZE):
    """A Flask app answering the V2 routes of ``router`` (and ``GET /healthz``)."""
    from flask import Flask, Response
    from flask import request as request_proxy
    from werkzeug.exceptions import RequestEntityTooLarge

    from ..adapters.flask import _authorized

    app = Flask("mlrun.serving")
    app.config["MAX_CONTENT_LENGTH"] = max_body_size
    current_request = request_proxy._get_current_object

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.route(PREFIX, methods=["GET", "POST"], strict_slashes=False)
    @app.route(PREFIX + "/<path:rest>", methods=["GET", "POST"])
    def models(rest: str = ""):
        request = current_request()  # the object itself: each access through Flask's proxy costs
        accept = request.headers.get("Accept", "")
        if token and not _authorized(request.headers.get("Authorization", ""), token):
            return _answer(Response, *render(401, "missing or wrong bearer token", accept),
                           {"WWW-Authenticate": "Bearer"})
        try:
            body = request.get_data() if request.method == "POST" else None
        except RequestEntityTooLarge:
            return _answer(Response, *render(413, f"request body is larger than the limit of {max_body_size} bytes",
                                             accept))
        return _answer(Response, *render(*router.handle(request.method, request.path, body), accept))

    return app


def _answer(response_class, status: int, content_type: str, body: str, headers=None):
    return response_class(body, status=status, content_type=content_type, headers=headers)


def model_spec(uri: str, class_name: str = "", name: str = "") -> tuple[ServingSpec, str]:
    """``(spec, the function's own folder)`` serving the one model at ``uri`` (``mlrun serve-model``).

    The model's own folder (a local one) is readable by the function: its operator named the model.
    """
    from .models import model_location

    key = name or _model_name(uri)
    spec = ServingSpec(key)
    spec.add_model(key, model_path=uri, class_name=class_name or DEFAULT_CLASS)
    where = model_location(uri)  # a store:// URI's artifact file
    local = "://" not in where or where.startswith("file://")
    path = os.path.abspath(where.removeprefix("file://")) if local else ""
    return spec, (path if os.path.isdir(path) else os.path.dirname(path)) if local else os.getcwd()


def is_serving_spec(target: str) -> bool:
    """Whether ``mlrun serve TARGET`` names a serving function's spec file (not a handler file)."""
    return target.lower().endswith((".yaml", ".yml", ".json")) and os.path.isfile(target)


def _model_name(uri: str) -> str:
    """A model's name from its URI: ``store://models/p/iris:latest`` and ``/models/iris.pkl`` give ``iris``."""
    tail = uri.rstrip("/").rsplit("/", 1)[-1]
    for mark in ("@", ":", "#"):
        tail = tail.split(mark, 1)[0]
    stem = os.path.splitext(tail)[0]
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in stem) or "model"


def serve(spec: ServingSpec, function_dir: str, host: str = "127.0.0.1", port: int = 8080, threads: int = 4,
          token: str = "", max_body_size: int = DEFAULT_MAX_BODY_SIZE, workers: int = 1,
          allow: Iterable[str] | None = None, out_path: str = "", insecure: bool = False) -> None:
    """Load every model of ``spec`` under the serving policy, then serve them until SIGINT or SIGTERM.

    ``function_dir`` (the spec file's folder, or the model's for ``serve-model``) is readable by default;
    ``allow`` (default ``$MLRUN_SERVE_ALLOW``) adds places, as for every served function.
    """
    from ..adapters.flask import serve_app
    from ..adapters.wsgi import check_listen
    from ..policy import AccessPolicy

    check_listen(host, token, insecure)
    try:
        import flask  # noqa: F401
        import waitress  # noqa: F401
    except ImportError as exc:
        from ..registry import missing_dependency

        raise missing_dependency("mlrun serve", exc.name, "server") from None
    policy = AccessPolicy.serving(allow, out_path, function_dir)
    router = spec.build_router(policy=policy)  # before the port opens (and before workers fork): loaded once
    lines = [f"serving models {', '.join(router.names())} on {{where}}{PREFIX}/ with {workers} x {threads} threads"]
    serve_app(create_app(router, token=token, max_body_size=max_body_size), lines, "call the models", host=host,
              port=port, threads=threads, workers=workers, token=token, max_body_size=max_body_size)
