"""Making function objects: ``new_function``, ``code_to_function``, ``import_function``; and ``function_to_module``."""
from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping, Sequence

from ..errors import MLRunInvalidArgumentError, MLRunNotFoundError
from .base import Function
from .kinds import function_class


def new_function(name: str = "", project: str = "", tag: str = "", kind: str = "", command: str = "",
                 image: str = "", args: Sequence[str] | None = None, runtime: Mapping | None = None,
                 mode: str | None = None, handler: str | Callable | None = None, source: str | None = None,
                 requirements: Sequence[str] | str | None = None, kfp=None,
                 requirements_file: str = "", rundb: str = "") -> Function:
    """A function object (MLRun 1.x's ``new_function``).

    ``kind``: ``""``/``local``, ``job``, ``dask``, ``nuclio``/``remote`` or a registered kind
    (``mlrun.functions.kinds``); ``command``: a Python file, with arguments (``'train.py --p {p}'``: ``{NAME}`` is
    the run's parameter ``NAME``); ``handler``: the function to call in the code (a name, ``Class::method``,
    ``module.func``); a callable is kept for runs in this process.  ``runtime``: a function's mapping (a YAML's) to
    start from.  A bad name (``asd/asd``) or unknown kind raises ``MLRunInvalidArgumentError``.  Late-2019 code's
    ``command='dask://[ADDRESS]'`` makes a ``dask`` function, ``command='http(s)://...'`` one of a served function
    at that URL; ``rundb``: the run store its runs go to.
    """
    if runtime is not None:
        data = dict(runtime.to_dict() if hasattr(runtime, "to_dict") else runtime)
        fn = function_class(kind or data.get("kind", "")).from_dict(data)
    else:
        scheme, sep, address = command.partition("://")
        # late-2019 spellings: 'dask://[ADDRESS]', 'http://host:port' (a served function)
        fn = _function_at(scheme, address, command, kind) if sep else function_class(kind)()
        command = "" if sep else command
    from .base import check_name

    meta, spec = fn.metadata, fn.spec
    meta.name = check_name(name or meta.name)
    meta.tag = check_name(tag or meta.tag, "function tag")
    meta.project = project or meta.project
    if command:
        words = shlex.split(command)
        spec.command, spec.args = words[0], [*words[1:], *(args or [])]
    elif args:
        spec.args = list(args)
    spec.image = image or spec.image
    if callable(handler):
        fn._handlers[handler.__name__] = handler
    spec.default_handler = getattr(handler, "__name__", handler) or spec.default_handler
    spec.extra.update({k: v for k, v in (("mode", mode), ("source", source), ("rundb", rundb)) if v})
    if requirements:
        fn.with_requirements(list(requirements) if not isinstance(requirements, str) else requirements)
    if requirements_file:
        fn.with_requirements(requirements_file)
    return fn


def _function_at(scheme: str, address: str, url: str, kind: str) -> Function:
    """The function a ``scheme://`` command names: ``dask://[ADDRESS]`` or a served function's URL."""
    if scheme == "dask":
        fn = function_class("dask")()
        if address:
            fn.spec.extra["scheduler_address"] = f"tcp://{address}" if "://" not in address else address
        return fn
    if scheme in ("http", "https"):
        fn = function_class(kind if kind in ("nuclio", "remote") else "remote")()
        fn.status.address = url
        return fn
    raise MLRunInvalidArgumentError(f"command {url!r}: unknown scheme {scheme!r} (expected a file, dask:// or "
                                    "http(s)://)")


def code_to_function(name: str = "", project: str = "", tag: str = "", filename: str = "", handler: str = "",
                     kind: str = "", image: str | None = None, code_output: str = "", embed_code: bool = True,
                     description: str = "", requirements: Sequence[str] | str | None = None,
                     categories: Sequence[str] | None = None, labels: Mapping[str, str] | None = None,
                     with_doc: bool = True, ignored_tags=None, requirements_file: str = "") -> Function:
    """A function from a ``.py`` file or a notebook's code cells (MLRun 1.x's ``code_to_function``).

    ``embed_code``: the code goes into the function (``spec.build.functionSourceCode``, base64) and travels with
    its YAML; else the function runs ``filename`` itself.  ``kind`` defaults to ``job``; ``name`` to the file's.
    ``code_output``: also write the code (a notebook's, as a ``.py``) there.
    """
    from .code import read_code

    if not filename:
        raise MLRunInvalidArgumentError("code_to_function needs filename= (a .py file or a notebook): there is no "
                                        "current notebook to read here")
    code = read_code(filename)
    if code_output:
        with open(code_output, "w", encoding="utf-8") as fp:
            fp.write(code)
    name = name or os.path.splitext(os.path.basename(filename))[0].replace("_", "-").lower()
    fn = new_function(name=name, project=project, tag=tag, kind=kind or "job", image=image or "", handler=handler,
                      requirements=requirements, requirements_file=requirements_file)
    if embed_code:
        fn.with_code(body=code)
        fn.spec.build.origin_filename = filename
        fn.spec.build.code_origin = os.path.abspath(filename)
    else:
        fn.spec.command = code_output or filename
    fn.spec.description = description or fn.spec.description
    fn.metadata.categories = list(categories or [])
    fn.metadata.labels.update({str(k): str(v) for k, v in (labels or {}).items()})
    return fn


def import_function(url: str = "", secrets=None, db: str = "", project: str | None = None,
                    new_name: str | None = None) -> Function:
    """A function read from its YAML (or JSON): a local path or a data store URL (``s3://``, ``http(s)://``).

    ``MLRunNotFoundError`` when there is nothing at ``url``; ``MLRunInvalidArgumentError`` when it is no function.
    """
    from ..model import parse_struct

    if not url:
        raise MLRunInvalidArgumentError("import_function needs the path or URL of a function's YAML")
    if "://" in url:
        from ..datastore import get_item

        text = get_item(url, secrets).get()
    else:
        if not os.path.isfile(url):
            raise MLRunNotFoundError(f"function file not found: {url}")
        with open(url, encoding="utf-8") as fp:
            text = fp.read()
    data = parse_struct(text, url)
    if not isinstance(data, Mapping) or not isinstance(data.get("spec", {}), Mapping) or "kind" not in data:
        raise MLRunInvalidArgumentError(f"{url} is not a function's YAML (expected kind, metadata and spec)")
    fn = function_class(str(data.get("kind") or "")).from_dict(data)
    if project is not None:
        fn.metadata.project = project
    if new_name:
        from .base import check_name

        fn.metadata.name = check_name(new_name)
    return fn


def function_to_module(code="", workdir: str | None = None, secrets=None, silent: bool = False):
    """The code of a function object, a ``.py`` file, a notebook or a function's YAML, loaded as a module (MLRun
    1.x's ``function_to_module``); ``silent``: ``None`` instead of an error when there is no code."""
    try:
        if isinstance(code, Function):
            return code.to_module()
        if not isinstance(code, str) or not code:
            raise MLRunInvalidArgumentError("function_to_module needs a function object or the path of its code")
        path = os.path.join(workdir, code) if workdir and not os.path.isabs(code) and "://" not in code else code
        if path.endswith((".yaml", ".yml", ".json")) or "://" in path:
            return import_function(path, secrets).to_module()
        from .code import load_module, read_code

        stem = os.path.splitext(os.path.basename(path))[0]
        return load_module(read_code(path), "".join(c if c.isalnum() else "_" for c in stem), path)
    except MLRunInvalidArgumentError:
        if silent:
            return None
        raise


def function_of(command, name: str = "", tag: str = "") -> Function:
    """``run_local``'s ``command`` as a function: a function object itself, a notebook's code, a function YAML."""
    if isinstance(command, Function):
        return command
    if not isinstance(command, str):
        raise MLRunInvalidArgumentError(f"command must be a file, a URL or a function, got {type(command).__name__}")
    if command.endswith(".ipynb"):
        return code_to_function(name or "", filename=command, kind="local", tag=tag)
    return import_function(command)
