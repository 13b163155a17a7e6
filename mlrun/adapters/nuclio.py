"""nuclio handlers from plain ``fn(ctx)`` functions.

    from mlrun.adapters.nuclio import nuclio_handler

    def my_func(ctx):
        ctx.log_output("accuracy", ctx.get_param("p1", 1) * 2)

    handler = nuclio_handler(my_func)      # function.yaml: spec.handler: "module:handler"

Each event gets a new run context built from its body; the function's printed output becomes
the run's log; the run ends ``completed`` (200) or ``error`` (500, with the error record) and is
answered with its record (see ``events`` for the forms).  The caller records the run from that
answer; with ``$MLRUN_DBPATH`` set, the function also commits it to that run store.  A body that is not
a run spec gets a 400 naming the problem.  Secret values are masked
in everything answered or logged.  nuclio-sdk itself is not needed: the answer is built with
``context.Response``.

The run reads and writes only what the function's access policy allows (``mlrun.policy``:
``$MLRUN_SERVE_ALLOW``, the folder of ``fn``'s file, the output path); a refusal ends it in state
``error``, answered with 403.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from ..config import DBPATH_ENV
from ..context import RunContext, get_or_create_ctx
from ..errors import AccessDeniedError, InvalidInputError, MLRunError
from ..loader import call_handler, file_handler_form, handler_returns, record_result
from ..policy import AccessPolicy, serving_policy
from ..protocol import answer_type, event_header, input_error_status, render_error, render_run
from .capture import capture_output, print_exception


def nuclio_handler(fn: Callable[[RunContext], Any] | None = None, *, name: str = ""):
    """Turn ``fn(ctx)`` into a nuclio ``handler(context, event)``; usable as a decorator too.

    ``name`` is the run name when the request names none (default: the function's name).
    """
    if fn is None:
        return lambda f: nuclio_handler(f, name=name)
    run_name = name or fn.__name__
    function_dir = _function_dir(fn)

    def handler(context, event):
        status, content_type, body = run_event(fn, event, run_name, logger=context.logger,
                                               policy=serving_policy(function_dir))
        return context.Response(body=body, content_type=content_type, status_code=status)

    # not functools.wraps: its __wrapped__ would make inspect report fn's one-argument signature
    handler.__name__, handler.__qualname__, handler.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    handler.__module__ = fn.__module__
    return handler


def _function_dir(fn: Callable) -> str:
    """The folder of the file ``fn`` was defined in (its function's own files); ``""`` when unknown."""
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    path = getattr(module, "__file__", None) or getattr(getattr(fn, "__code__", None), "co_filename", "")
    return os.path.dirname(os.path.abspath(path)) if path and os.path.isfile(path) else ""


def run_event(fn: Callable[[RunContext], Any], event: Any, name: str = "", logger=None,
              policy: AccessPolicy | None = None) -> tuple[int, str, str]:
    """Run ``fn`` on a new context built from ``event``: ``(status, content type, body)`` to answer with.

    ``logger`` (a nuclio logger) hears of bad requests and failed runs; the run's own log is what
    ``fn`` printed.  ``policy`` is what the run may touch (default: ``serving_policy()`` with the
    folder of ``fn``'s file); a refusal answers 403 with the run's record.
    """
    content_type = answer_type(event_header(event, "Accept"))
    with capture_output() as out:
        try:
            ctx = get_or_create_ctx(name, event=event, policy=policy or serving_policy(_function_dir(fn)))
        except InvalidInputError as exc:
            if logger is not None:
                logger.warn_with("bad request", error=str(exc))
            return (input_error_status(exc), *render_error(str(exc), content_type))
        error = _call(fn, ctx, out)
        if ctx.state == "running":
            ctx.finish(error, commit=False)
        if os.environ.get(DBPATH_ENV):  # the caller records the run from the answer; a copy only where asked
            try:
                ctx.commit()
            except (MLRunError, OSError) as exc:  # the caller keeps the record; this store is a convenience
                print(f"mlrun: could not store the run in the function's run store: {exc}", file=out)
    status = 200 if ctx.state != "error" else 403 if isinstance(error, AccessDeniedError) else 500
    if status != 200 and logger is not None:
        log = logger.warn_with if status == 403 else logger.error_with
        log("access denied" if status == 403 else "run failed", name=ctx.mask(ctx.name), uid=ctx.uid,
            error=ctx.mask(ctx.error))
    secrets = ctx.secret_values()
    record = ctx.record_data(copy=False, masked=False)  # render_run masks it as it serialises: one pass, no copy
    return status, content_type, render_run(record, ctx.mask(out.getvalue()), content_type, secrets)


def _call(fn: Callable[[RunContext], Any], ctx: RunContext, out) -> BaseException | None:
    """Call ``fn(ctx)``, record what it returns; on failure write the traceback to the run's log.

    A refusal of the access policy is no bug of the function's: its one line is the run's error, no traceback.
    """
    try:
        record_result(ctx, call_handler(fn, ctx, file_handler_form(fn, ctx)), handler_returns(fn, ctx))
    except (Exception, SystemExit) as exc:  # a failing run is an answer, not a crashed worker
        if not isinstance(exc, AccessDeniedError):
            print_exception(exc, out)
        return exc
    return None

