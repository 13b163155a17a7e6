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

    return f"mlrun-{__version__}-py3-none-any.whl"


def wheel_requirement(extras=DEFAULT_EXTRAS) -> str:
    """The wheel as nuclio's build sees it, with ``extras``: ``/opt/nuclio/mlrun-X-py3-none-any.whl[s3]``."""
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
    module = os.path.splitext(os.path.basename(path))[0]
    name = name or module.lower().replace("_", "-")
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


def config_yaml(config: dict, command: str = "", path: str = "function.yaml", deploy: str = "") -> str:
    """The config as YAML, headed by the command that made it (so it can be made again) and how to deploy it."""
    import yaml

    header = f"# generated by: {command}\n" if command else ""
    deploy = deploy or f"nuctl deploy --file {path}"
    return f"{header}# deploy: {deploy}\n" + yaml.safe_dump(config, sort_keys=False)
