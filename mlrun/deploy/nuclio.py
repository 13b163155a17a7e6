"""nuclio function configs for handler files: what ``nuctl deploy`` deploys.

    mlrun function-config handlers/seed_nuclio.py:handler --name myfunc --bundle build/myfunc
    mlrun function-config my_handler.py --mlrun-requirement 'git+https://...' -o function.yaml

In a bundle (``mlrun.deploy.bundle``) the build installs the wheel shipped beside the handler; a config
on its own carries the handler's source code and installs mlrun the way ``mlrun_requirement`` says
(the name ``mlrun`` on the package index is another project's).  ``requirements`` are installed
after mlrun.
"""
from __future__ import annotations

import base64
import os
import re
import shlex
from collections.abc import Mapping, Sequence

from ..errors import InvalidInputError
from ..protocol import DEFAULT_MAX_BODY_SIZE
from ..registry import DISTRIBUTION_FILENAME

#: where nuclio's Python runtime copies the function's folder (``--path``) inside its image
NUCLIO_DIR = "/opt/nuclio"
#: nuclio's build directive: the commands after it run once the function's folder is copied
POST_COPY = "@nuclio.postCopy"
#: the extras a deployed handler gets by default: S3 inputs and artifacts
DEFAULT_EXTRAS = ("s3",)
NUCLIO_RUNTIME = "python:3.11"
DEFAULT_WORKERS = 4
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_EXTRA = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def wheel_name() -> str:
    from .. import __version__

    return f"{DISTRIBUTION_FILENAME}-{__version__}-py3-none-any.whl"


def wheel_requirement(extras=DEFAULT_EXTRAS) -> str:
    """The wheel as nuclio's build sees it, with ``extras``: ``/opt/nuclio/mlrun_lite-X-py3-none-any.whl[s3]``."""
    suffix = f"[{','.join(extras)}]" if extras else ""
    return f"{NUCLIO_DIR}/{wheel_name()}{suffix}"


def function_config(target: str, name: str = "", requirements: Sequence[str] = (),
                    env: Mapping[str, str] | None = None, workers: int = DEFAULT_WORKERS,
                    max_body_size: int = DEFAULT_MAX_BODY_SIZE, base_image: str = "", namespace: str = "",
                    mlrun_requirement: str = "", bundle: bool = False, extras: Sequence[str] | None = None) -> dict:
    """A nuclio function config (``apiVersion: nuclio.io/v1``) for ``FILE[:HANDLER]``.

    ``name`` defaults to the file's name made DNS-safe; ``env`` becomes ``spec.env``; the HTTP
    trigger gets ``workers`` workers and a ``max_body_size`` request limit.  ``bundle``: the config
    of a bundle (the handler file and mlrun's wheel beside it, installed with ``extras``); else
    ``mlrun_requirement`` (a pip requirement: a git URL, a path) says how the build installs mlrun.
    """
    from ..loader import locate_handler
    path, handler = locate_handler(target)
    check_nuclio_handler(path, handler)
    module = os.path.splitext(os.path.basename(path))[0]
    name = name or module.lower().replace("_", "-")
    extras = _checked_options(name, workers, max_body_size, extras, mlrun_requirement, bundle)
    build = _build_section(path, requirements, base_image, mlrun_requirement, bundle, extras)
    metadata: dict = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "nuclio.io/v1",
        "kind": "NuclioFunction",
        "metadata": metadata,
        "spec": {
            "description": f"mlrun handler {module}:{handler}",
            "runtime": NUCLIO_RUNTIME,
            "handler": f"{module}:{handler}",
            "env": [{"name": k, "value": str(v)} for k, v in (env or {}).items()],
            "build": build,
            "triggers": {
                "http": {"kind": "http", "numWorkers": workers, "attributes": {"maxRequestBodySize": max_body_size}},
            },
        },
    }


def _checked_options(name: str, workers: int, max_body_size: int, extras: Sequence[str] | None,
                     mlrun_requirement: str, bundle: bool) -> tuple[str, ...]:
    """Refuse a bad function name, limit, extra or a config that does not say how mlrun is installed;
    the extras to install (the defaults when ``extras`` is None)."""
    if not _DNS_NAME.match(name):
        raise InvalidInputError(f"function name {name!r} must be lowercase letters, digits and '-' "
                                "(at most 63, starting and ending with a letter or digit)")
    if workers < 1 or max_body_size < 1:
        raise InvalidInputError("workers and max_body_size must be positive")
    extras = DEFAULT_EXTRAS if extras is None else tuple(extras)
    for extra in extras:
        if not _EXTRA.match(extra):
            raise InvalidInputError(f"extra {extra!r} must be a name like s3 or server")
    if not mlrun_requirement and not bundle:
        raise InvalidInputError("say how the function's build installs mlrun: --bundle DIR (ships a wheel of "
                                "this mlrun) or --mlrun-requirement REQ (e.g. a git URL)")
    return extras


def _build_section(path: str, requirements: Sequence[str], base_image: str, mlrun_requirement: str,
                   bundle: bool, extras: tuple[str, ...]) -> dict:
    """``spec.build``: the pip installs, and the handler's source unless it ships in a bundle."""
    packages = [mlrun_requirement or wheel_requirement(extras), *requirements]
    commands = [f"pip install {shlex.quote(p)}" for p in packages]
    build: dict = {"commands": commands}
    if bundle:
        if not mlrun_requirement:  # the wheel is in the function's folder only once nuclio has copied it
            build["commands"] = [POST_COPY, *commands]
    else:
        with open(path, "rb") as fp:
            build["functionSourceCode"] = base64.b64encode(fp.read()).decode("ascii")
    if base_image:
        build = {"baseImage": base_image, **build}
    return build


def check_nuclio_handler(path: str, handler: str) -> None:
    """Refuse a ``handler`` that nuclio cannot call as ``handler(context, event)``, read without running the file.

    Only a plain top-level ``def`` is judged: a decorated one, an assignment (``handler =
    nuclio_handler(fn)``) or an import may well be a nuclio handler, and telling would mean running the
    file.  The error says how to wrap a plain ``fn(ctx)``; it is an ``InvalidHandlerError``.
    """
    import ast

    with open(path, "rb") as fp:
        tree = ast.parse(fp.read(), filename=path)
    definition = None  # the name's last top-level binding, as when the file runs
    for node in tree.body:
        if _binds(node, handler):
            definition = node
    if not isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return
    if definition.decorator_list:
        return
    args = definition.args
    positional = len(args.posonlyargs) + len(args.args)
    required = positional - len(args.defaults) + sum(1 for d in args.kw_defaults if d is None)
    if (positional >= 2 or args.vararg) and required <= 2:
        return
    shown = ast.unparse(args)
    raise InvalidHandlerError(
        f"{path}:{handler}: {handler}({shown}) is not a nuclio handler(context, event); wrap a plain fn(ctx): "
        f"handler = mlrun.adapters.nuclio.nuclio_handler({handler}), then deploy FILE:handler")


def _binds(node, name: str) -> bool:
    """Whether the top-level statement ``node`` (a def, class, assignment or import) binds ``name``."""
    import ast

    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name == name
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return any((alias.asname or alias.name.split(".")[0]) == name for alias in node.names)
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return any(isinstance(n, ast.Name) and n.id == name for t in targets if t is not None for n in ast.walk(t))


class InvalidHandlerError(InvalidInputError):
    """A handler nuclio cannot call as ``handler(context, event)`` (``check_nuclio_handler``)."""


def config_yaml(config: dict, command: str = "", path: str = "function.yaml", deploy: str = "") -> str:
    """The config as YAML, headed by the command that made it (so it can be made again) and how to deploy it."""
    import yaml

    header = f"# generated by: {command}\n" if command else ""
    deploy = deploy or f"nuctl deploy --file {path}"
    return f"{header}# deploy: {deploy}\n" + yaml.safe_dump(config, sort_keys=False)
