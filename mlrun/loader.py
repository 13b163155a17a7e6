"""Loading handlers from files: ``FILE[:HANDLER]`` targets, the names a file defines, nuclio-style or plain.

One place for what the local runtime, ``mlrun serve``, the nuclio adapter and ``function-config``
need: a target checked without running its file (``locate_handler``), a file imported as a module
(``import_file``), which form a handler has (``fn(ctx)`` or nuclio's ``handler(context, event)``), and
what a handler's return value becomes (``record_result``: a dict its outputs, anything else ``return``), and
the keyword arguments ``fn(ctx, p1=1, ...)`` gets from its run (``bind_params``).
"""
from __future__ import annotations

import ast
import functools
import os
import sys
from collections.abc import Callable
from typing import Any

from .errors import InvalidInputError, MLRunError

#: the handler a ``FILE`` target without ``:HANDLER`` names (nuclio's default)
DEFAULT_HANDLER = "handler"


def top_level_names(path: str) -> set[str]:
    """Functions, classes and assignments at the top of a Python file, read without running it."""
    try:
        with open(path, "rb") as fp:
            tree = ast.parse(fp.read(), filename=path)
    except SyntaxError as exc:
        raise InvalidInputError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def check_handler(path: str, handler: str = "") -> None:
    """Refuse (``InvalidInputError``) a missing file, or a ``handler`` its top level does not define."""
    if not os.path.isfile(path):
        raise InvalidInputError(f"file not found: {path}")
    if handler and handler not in top_level_names(path):
        raise InvalidInputError(f"handler {handler!r} not found in {path}")


def locate_handler(target: str, default: str = DEFAULT_HANDLER) -> tuple[str, str]:
    """``FILE[:HANDLER]`` -> ``(file, handler)``, checked without running the file (nuclio's ``module:function``)."""
    path, sep, attr = target.rpartition(":")
    if not sep or not attr.isidentifier():
        path, attr = target, default
    check_handler(path, attr)
    return path, attr


def import_file(path: str):
    """The module of the Python file ``path``, run once; its folder goes first on ``sys.path`` (its neighbours)."""
    import importlib.util

    from .errors import error_message

    path = os.path.abspath(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    # a handler file may share a name with a library module ("json.py"): never shadow it
    module_name = stem if stem.isidentifier() and stem not in sys.modules else f"mlrun_handler_{abs(hash(path))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(path))  # the handler's own imports of its neighbours
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise MLRunError(f"cannot load {path}: {error_message(exc)}") from None
    return module


def required_positional(fn: Callable) -> int:
    """How many positional arguments ``fn`` needs (0 when its signature cannot be read)."""
    import inspect

    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 0
    return sum(1 for p in parameters if p.default is p.empty
               and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def load_function(target: str) -> tuple[Callable, Any, str, bool]:
    """``FILE[:HANDLER]`` -> ``(function, its module, its file, nuclio_style)``.

    ``nuclio_style``: the function takes nuclio's ``(context, event)``; else it is a plain ``fn(ctx)``.
    Anything else is refused (``InvalidInputError``).
    """
    path, attr = locate_handler(target)
    module = import_file(path)
    fn = getattr(module, attr)
    if not callable(fn):
        raise InvalidInputError(f"{path}:{attr} is not a function")
    required = required_positional(fn)
    if required < 1:
        raise InvalidInputError(f"{path}:{attr} must take (ctx) or nuclio's (context, event)")
    return fn, module, path, required >= 2


def record_result(ctx, result: Any) -> None:
    """What a handler returned, recorded on its run: a dict as outputs, any other value (not None) as ``return``."""
    if isinstance(result, dict):
        ctx.log_outputs(result)
    elif result is not None:
        ctx.log_output("return", result)


@functools.lru_cache(maxsize=256)
def handler_signature(fn: Callable):
    """``inspect.signature(fn)``, looked up once per function (``None`` for a callable without one)."""
    import inspect

    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def bind_params(fn: Callable, ctx) -> dict:
    """The keyword arguments of a handler ``fn(ctx, p1=1, ...)`` from its run: the run's parameters by name, inputs
    as data items (an argument named as an input key); ``**kwargs`` takes every parameter.  A default the run does
    not override is recorded as a parameter (``get_param``), so the record shows what ran."""
    from .model import is_scalar

    signature = handler_signature(fn)
    if signature is None:
        return {}
    parameters, inputs = ctx.parameters, ctx.inputs
    named = list(signature.parameters.values())[1:]
    kwargs = {}
    for p in named:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            continue
        if p.name in parameters:
            kwargs[p.name] = parameters[p.name]
        elif p.name in inputs:
            kwargs[p.name] = ctx.get_input(p.name)
        elif p.default is not p.empty and is_scalar(p.default):
            ctx.get_param(p.name, p.default)
    if any(p.kind == p.VAR_KEYWORD for p in named):
        kwargs.update({k: v for k, v in parameters.items() if k not in kwargs})
    return kwargs
