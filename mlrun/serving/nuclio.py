"""A serving function on nuclio: ``spec.handler: serving_handler:handler``, its spec in ``$MLRUN_SERVING_SPEC``.

    mlrun function-config function.yaml --bundle build/iris     # a serving function's YAML
    nuctl deploy --path build/iris --file build/iris/function.yaml

The bundle holds the serving spec (``serving.yaml``), the models it names by local path (copied into
``models/``, so the function carries them), a two-line handler file and mlrun's wheel.  ``init_context``
loads every model once per worker, under the served policy (``$MLRUN_SERVE_ALLOW``; the spec's folder is
readable); ``handler`` answers the V2 routes from nuclio's events (see ``mlrun.serving.router``).
"""
from __future__ import annotations

import os
import shutil
from typing import Any

from ..errors import InvalidInputError
from ..protocol import event_header
from .router import render
from .spec import ServingSpec

#: a serving spec's file (or its YAML/JSON text) for ``init_context``
SPEC_ENV = "MLRUN_SERVING_SPEC"
HANDLER_FILE = "serving_handler.py"
SPEC_FILE = "serving.yaml"
_HANDLER_CODE = ("# a serving function's nuclio entry point; its models are in $MLRUN_SERVING_SPEC\n"
                 "from mlrun.serving.nuclio import handler, init_context  # noqa: F401\n")


def init_context(context) -> None:
    """Load the spec of ``$MLRUN_SERVING_SPEC`` and every model it names, once per nuclio worker."""
    from ..policy import serving_policy

    spec = spec_from_env()
    context.user_data.router = spec.build_router(policy=serving_policy(spec.base_dir), context=context)


def spec_from_env() -> ServingSpec:
    """The serving spec ``$MLRUN_SERVING_SPEC`` names: a file, else the spec's own YAML or JSON text."""
    from ..model import parse_struct

    value = os.environ.get(SPEC_ENV, "")
    if not value:
        raise InvalidInputError(f"set ${SPEC_ENV} to the serving function's spec (a file, or its YAML)")
    if os.path.isfile(value):
        return ServingSpec.from_file(value)
    return ServingSpec.from_dict(parse_struct(value, f"${SPEC_ENV}"), os.getcwd(), f"${SPEC_ENV}")


def handler(context, event) -> Any:
    """Answer one V2 request from nuclio's event (bodies as nuclio delivers them: bytes, text or decoded JSON)."""
    router = getattr(context.user_data, "router", None)
    if router is None:  # a platform that skipped init_context
        init_context(context)
        router = context.user_data.router
    method = _text(getattr(event, "method", "") or "GET").upper()
    path = _text(getattr(event, "path", "") or "/")
    body = getattr(event, "body", None) if method == "POST" else None
    status, content_type, answer = render(*router.handle(method, path, body), event_header(event, "Accept"))
    return context.Response(body=answer, content_type=content_type, status_code=status, headers={})


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def write_serving_bundle(spec_path: str, directory: str, command: str = "", **options) -> dict:
    """A nuclio bundle for the serving function of ``spec_path`` in ``directory``: its files by role.

    Models named by a local path are copied into ``models/KEY/`` and the spec points there; other
    paths (``s3://``, ``store://``) stay as they are.  ``options`` go to ``write_bundle``.
    """
    from ..deploy.bundle import write_bundle
    from ..deploy.nuclio import NUCLIO_DIR

    spec = ServingSpec.from_file(spec_path)
    os.makedirs(directory, exist_ok=True)
    for key, route in spec.routes.items():
        args = route.setdefault("class_args", {})
        if args.get("model_path") and "://" not in str(args["model_path"]):
            args["model_path"] = _copy_model(spec._path(str(args["model_path"])), directory, key)
    if spec.source:
        shutil.copyfile(spec._path(spec.source), os.path.join(directory, os.path.basename(spec.source)))
        spec.source = os.path.basename(spec.source)
    with open(os.path.join(directory, SPEC_FILE), "w", encoding="utf-8") as fp:
        fp.write(spec.to_yaml())
    handler_path = os.path.join(directory, HANDLER_FILE)
    with open(handler_path, "w", encoding="utf-8") as fp:
        fp.write(_HANDLER_CODE)
    env = {SPEC_ENV: f"{NUCLIO_DIR}/{SPEC_FILE}", **(options.pop("env", None) or {})}
    options["name"] = options.get("name") or spec.name.lower().replace("_", "-") or "serving"
    extras = list(options.get("extras") or ["s3"])
    if any(str(route.get("class_name", "")).startswith("mlrun.frameworks.sklearn") for route in spec.routes.values()):
        extras += [] if "sklearn" in extras else ["sklearn"]
    options["extras"] = extras
    files = write_bundle(f"{handler_path}:handler", directory, command, env=env, **options)
    return {**files, "spec": os.path.join(directory, SPEC_FILE)}


def _copy_model(source: str, directory: str, key: str) -> str:
    """Copy a local model (a file or a folder) into the bundle; its path relative to the bundle."""
    if not os.path.exists(source):
        raise InvalidInputError(f"model {key!r}: {source} does not exist")
    target = os.path.join("models", key.replace(":", "-"))
    destination = os.path.join(directory, target)
    shutil.rmtree(destination, ignore_errors=True)
    if os.path.isdir(source):
        shutil.copytree(source, destination)
        return target
    os.makedirs(destination)
    shutil.copyfile(source, os.path.join(destination, os.path.basename(source)))
    return os.path.join(target, os.path.basename(source))
