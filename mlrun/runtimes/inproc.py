"""In-process runs: a Python callable runs in this process, on a context made for the run.

The handler is called as its signature asks (``loader.handler_form``: MLRun 1.x's rules and the 2019 forms):
``fn(context, p1=1, ...)`` / ``fn(ctx, ...)`` with the run's context and its parameters and inputs bound by name
(defaults the run does not set recorded as parameters); ``fn(p1, p2, context=None)`` with the parameters by name and
the context only where an argument is named ``context``; nuclio's ``handler(context, event)`` with an empty event;
the 2019 ``fn(struct)`` / ``fn(spec=None)`` with the run's spec as a mapping (its
``get_or_create_ctx(name, spec=struct)`` makes the context of this very run: same uid, same run store, the run's
inline secrets); ``fn()``, whose bare ``get_or_create_ctx(name)`` returns the run's context.

The context is this thread's current one only while the handler runs (``lifecycle.in_process_run``).
What the handler returns is recorded by ``loader.record_result`` (``returns`` names it); an exception ends the
run in state ``error`` with its message.  The runtime never stores the final record: ``RunRequest`` does, masked.
"""
from __future__ import annotations

from collections.abc import Callable

from .. import lifecycle
from ..context import RunContext
from ..errors import InvalidInputError
from ..loader import CONTEXT_NAMES, call_handler, handler_form, handler_returns, record_result
from ..model import RunRecord
from ..secrets import SecretsStore
from .base import RunOutcome, Runtime

__all__ = ["CONTEXT_NAMES", "InProcessRuntime", "handler_form", "handler_name"]


class InProcessRuntime(Runtime):
    """Runs ``target``, a Python callable, in this process (see the module's text)."""

    kind = "handler"
    stores_running = True
    #: iterations of a sweep run one at a time unless ``parallel`` says otherwise: they share one interpreter
    parallel = 1

    def __init__(self, target: Callable):
        if not callable(target):
            raise InvalidInputError(f"an in-process run needs a callable, got {type(target).__name__}")
        super().__init__(target)

    @property
    def command(self) -> str:
        """What the record names as the run's command: ``module:qualified.name`` of the callable."""
        return handler_name(self.target)

    def run(self, record: RunRecord, secrets: SecretsStore, rundb: str, stream: bool = True) -> RunOutcome:
        from ..rundb import get_run_db

        db = get_run_db(rundb)
        fn = self.target
        form = handler_form(fn, record.spec.parameters, {i.get("key") for i in record.spec.input_objects})
        if form != "spec":
            record.metadata.name = record.metadata.name or getattr(fn, "__name__", "") or "handler"
            ctx = RunContext(record, secrets, db)
            with lifecycle.in_process_run(ctx):
                error, result = _call(ctx, lambda: call_handler(fn, ctx, form))
            return _outcome(ctx, error, result, handler_returns(fn, ctx))
        with lifecycle.in_process_run(None, db, secrets.inline_values()) as scope:
            try:
                error, result = _call(None, lambda: fn(record.to_dict()))
            except KeyboardInterrupt:
                self._spec_context(scope[0], record, secrets, db).finish("interrupted")
                raise
        ctx = self._spec_context(scope[0], record, secrets, db)
        # a 2019 handler returns ctx.to_yaml() or the context itself: only a dict is results
        return _outcome(ctx, error, result if isinstance(result, dict) else None, handler_returns(fn, ctx))

    def _spec_context(self, made: RunContext | None, record: RunRecord, secrets: SecretsStore, db) -> RunContext:
        """The context a ``fn(struct)`` handler made of its run; if it made none, one, so the run is still recorded."""
        if made is not None and made.uid == record.uid:
            return made
        record.metadata.name = record.metadata.name or getattr(self.target, "__name__", "") or "handler"
        return RunContext(record, secrets, db)


def _call(ctx: RunContext | None, fn: Callable) -> tuple[BaseException | None, object]:
    """Run ``fn``: (what it raised, else ``None``; what it returned).  An interrupt ends the run and goes on up."""
    try:
        return None, fn()
    except KeyboardInterrupt:
        if ctx is not None:
            ctx.finish("interrupted")  # committed now: the caller's final store is not reached on the way up
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - whatever the handler raised ends the run in error
        return exc, None


def _outcome(ctx: RunContext, error: BaseException | None, result, returns: list) -> RunOutcome:
    """The run's end: its results, its state, and its record as the context holds it (``RunRequest`` masks it)."""
    if error is None:
        try:
            record_result(ctx, result, returns)
        except InvalidInputError as exc:  # a value that cannot be recorded
            error = exc
    ctx.finish(error, commit=False)
    return RunOutcome(RunRecord.from_dict(ctx.record_data(copy=True, masked=False), copy=False))


def handler_name(fn: Callable) -> str:
    """``module:qualified.name`` of a callable (what the record keeps of it)."""
    module = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    return f"{module}:{name}" if module else name
