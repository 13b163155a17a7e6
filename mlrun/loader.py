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
from collections.abc import Callable, Mapping, Sequence
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
    root = handler_root(handler)
    if handler and root not in top_level_names(path) and not ("." in handler and _importable(root)):
        raise InvalidInputError(f"handler {handler!r} not found in {path}")


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


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


def record_result(ctx, result: Any, returns: Sequence[str] = ()) -> None:
    """What a handler returned, recorded on its run (one rule for every way a handler runs).

    ``returns`` (``fn.run(returns=[...])``, ``@mlrun.handler(outputs=[...])``) names the results: a returned
    tuple or list is split by position, a dict picked by those names, any other value is the first name.
    Without names a dict becomes outputs (the 2019 rule; MLRun 1.x logs it as the one result ``return``),
    any other value (not ``None``) the result ``return``.
    """
    names = [str(name).split(":", 1)[0].strip() for name in returns]
    if not names:
        if isinstance(result, dict):
            ctx.log_outputs(result)
        elif result is not None:
            ctx.log_output("return", result)
        return
    if result is None:
        return
    if isinstance(result, dict):
        values = [result.get(name) for name in names]
    elif isinstance(result, (tuple, list)) and len(names) > 1:
        if len(result) != len(names):
            raise InvalidInputError(f"the handler returned {len(result)} values for {len(names)} names in "
                                    f"returns={names}")
        values = list(result)
    else:
        values = [result]
    for name, value in zip(names, values, strict=False):
        if value is not None:
            ctx.log_output(name, value)


@functools.lru_cache(maxsize=256)
def handler_signature(fn: Callable):
    """``inspect.signature(fn)``, looked up once per function (``None`` for a callable without one)."""
    import inspect

    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def bind_params(fn: Callable, ctx, skip_first: bool = True) -> dict:
    """The keyword arguments of a handler ``fn(ctx, p1=1, ...)`` from its run: the run's parameters by name, inputs
    as data items (an argument named as an input key); ``**kwargs`` takes every parameter.  A default the run does
    not override is recorded as a parameter (``get_param``), so the record shows what ran.  ``skip_first=False``:
    every argument is bound (a handler that takes no context; one named ``context`` gets it)."""
    from .model import is_scalar

    signature = handler_signature(fn)
    if signature is None:
        return {}
    parameters, inputs = ctx.parameters, ctx.inputs
    named = list(signature.parameters.values())[1 if skip_first else 0:]
    kwargs = {}
    for p in named:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            continue
        if p.name == "context" and not skip_first:
            kwargs[p.name] = ctx
        elif p.name in parameters:
            kwargs[p.name] = parameters[p.name]
        elif p.name in inputs:
            kwargs[p.name] = ctx.get_input(p.name)
        elif p.default is not p.empty and is_scalar(p.default):
            ctx.get_param(p.name, p.default)
    if any(p.kind == p.VAR_KEYWORD for p in named):
        kwargs.update({k: v for k, v in parameters.items() if k not in kwargs})
    return kwargs


#: the first parameter names that make a handler take the run's context first (``fn(context, p1=1)``, ``fn(ctx)``)
CONTEXT_NAMES = ("context", "ctx")


def handler_form(fn: Callable, parameters: Mapping | None = None, inputs: Mapping | None = None) -> str:
    """How a handler is called (MLRun 1.x's rules, with the 2019 forms they grew from):

    * ``"context"``: its first parameter is ``context`` or ``ctx``: ``fn(context, p1=..., ...)``;
    * ``"nuclio"``: nuclio's ``handler(context, event)`` (two required arguments, the second ``event``);
    * ``"params"``: it takes the run's parameters and inputs by name, the context only where a parameter is
      named ``context`` (``fn(p1, p2)``, ``fn(x, context=None)``); also ``fn(**kwargs)``;
    * ``"spec"``: the 2019 ``fn(struct)`` / ``fn(spec=None)``: one argument, without a default or defaulting to
      ``None``, that names no parameter or input of the run, called with the run's spec (it calls
      ``get_or_create_ctx(name, spec=struct)`` itself);
    * ``"none"``: no arguments: ``fn()``.

    ``parameters`` and ``inputs``: the run's (``None``: not known yet, a single argument is taken as the spec).
    """
    signature = handler_signature(fn)
    if signature is None:
        return "context"
    params = [p for p in signature.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if not params:
        return "params" if any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values()) else "none"
    if len(params) >= 2 and params[1].name == "event" and params[0].name in CONTEXT_NAMES + ("nuclio_context",):
        return "nuclio"
    if params[0].name in CONTEXT_NAMES:
        return "context"
    known = set(parameters or ()) | set(inputs or ())
    first = params[0]
    if len(params) == 1 and first.name not in known | {"context"} and first.default in (first.empty, None):
        return "spec"  # fn(struct), fn(spec=None); fn(x=5) takes a parameter by name
    return "params"


def file_handler_form(fn: Callable, ctx) -> str:
    """``handler_form`` for a handler named in a file (``mlrun run --handler``, ``mlrun serve``): there a single
    argument has always been the context (``fn(ctx)``), never the 2019 in-process ``fn(struct)``."""
    form = handler_form(fn, ctx.parameters, ctx.inputs)
    return "context" if form == "spec" else form


def call_handler(fn: Callable, ctx, form: str = "") -> Any:
    """Call ``fn`` for the run of ``ctx`` as its form asks (``handler_form``); what it returned.

    A nuclio-form handler gets an empty event: its ``get_or_create_ctx(name, event=event)`` is this run's context
    (and what it answers is no result).
    """
    form = form or handler_form(fn, ctx.parameters, ctx.inputs)
    for key, value in (getattr(fn, "mlrun_labels", None) or {}).items():
        ctx.set_label(key, value)
    if form == "context":
        return fn(ctx, **bind_params(fn, ctx))
    if form == "params":
        return fn(**bind_params(fn, ctx, skip_first=False))
    if form == "nuclio":
        fn(ctx, EmptyEvent())
        return None  # its answer is the HTTP response (often the record as YAML), no result
    if form == "spec":
        return fn(ctx.to_dict())
    return fn()


class EmptyEvent:
    """The event a nuclio-form handler gets when it runs as a plain run (``run_start``, ``mlrun run --handler``):
    no body, no headers; ``get_or_create_ctx(name, event=EmptyEvent())`` returns the run's own context."""

    plain_run = True
    body = b""
    headers: dict = {}
    path = "/"
    method = "POST"
    content_type = ""


def resolve_handler(namespace: Mapping, handler: str, where: str = "", init_args: Mapping | None = None) -> Callable:
    """The callable a handler string names in ``namespace`` (a module's names), as MLRun 1.x reads it:
    ``func``, ``Class::method`` (an instance made with ``init_args``, the run's ``_init_args`` parameter, else with
    no arguments), ``module.func`` (a dotted path: a name the namespace holds, else an importable module)."""
    import importlib

    try:
        if "::" in handler:
            class_name, _, method = handler.partition("::")
            cls = resolve_handler(namespace, class_name, where)
            target = getattr(cls(**dict(init_args or {})), method)
        elif handler in namespace:
            target = namespace[handler]
        elif "." in handler:
            head, *rest = handler.split(".")
            if head in namespace:
                target = namespace[head]
            else:
                module_path, _, rest_name = handler.rpartition(".")
                target, rest = importlib.import_module(module_path), [rest_name]
            for part in rest:
                target = getattr(target, part)
        else:
            raise InvalidInputError(f"handler {handler!r} not found{_in(where)}")
    except (AttributeError, ImportError, KeyError) as exc:
        raise InvalidInputError(f"handler {handler!r} not found{_in(where)}: {exc}") from None
    if not callable(target):
        raise InvalidInputError(f"handler {handler!r}{_in(where)} is not a function")
    return target


def _in(where: str) -> str:
    return f" in {where}" if where else ""


def handler_returns(fn: Callable, ctx) -> list:
    """The names a handler's returned value is recorded under: the run's ``returns``, else ``@mlrun.handler``'s."""
    return list(ctx.runtime.get("returns") or getattr(fn, "mlrun_outputs", None) or ())


def handler_root(handler: str) -> str:
    """The top-level name a handler string needs in its file (``Class`` of ``Class::method``, ``json`` of
    ``json.dumps``)."""
    return handler.partition("::")[0].split(".")[0]
