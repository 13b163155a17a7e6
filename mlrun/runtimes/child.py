"""The child side of a local run: ``python -m mlrun.runtimes.child`` with ``MLRUN_EXEC_CONFIG`` set."""
from __future__ import annotations

import os
import runpy
import sys
import traceback

from ..config import PROGRESS_FD_ENV
from ..context import get_or_create_ctx


def main() -> int:
    if os.environ.get(PROGRESS_FD_ENV):
        from ..datastore.progress import adopt_launcher_stream

        adopt_launcher_stream()
    ctx = get_or_create_ctx("")
    runtime = ctx._record.spec.runtime
    path = os.path.abspath(runtime.get("command", ""))
    handler = runtime.get("handler") or ""
    sys.argv = [path, *[str(a) for a in runtime.get("args") or []]]
    sys.path.insert(0, os.path.dirname(path))
    ctx.commit()  # the run is visible as running from here on
    error = None
    try:
        if handler:
            namespace = runpy.run_path(path, run_name="__mlrun_handler__")
            result = namespace[handler](ctx)
            if isinstance(result, dict):
                ctx.log_outputs(result)
            elif result is not None:
                ctx.log_output("return", result)
        else:
            runpy.run_path(path, run_name="__main__")
    except SystemExit as exc:
        error = exc  # finish() tells sys.exit(0) from a failing exit
    except BaseException as exc:  # noqa: BLE001 - whatever the code raised ends the run in state error
        error = exc
        tb = traceback.TracebackException.from_exception(exc)
        tb.stack = traceback.StackSummary.from_list([f for f in tb.stack if f.filename != __file__
                                                     and "runpy" not in os.path.basename(f.filename)])
        sys.stderr.write(ctx.mask("".join(tb.format())))
    if ctx.state != "error":  # an exception raised after the code completed the run still fails it
        ctx.finish(error)
    else:  # the code failed the run itself (ctx.finish or a context manager): keep its reason
        ctx.commit()
    return 0 if ctx.state != "error" else 1


if __name__ == "__main__":
    sys.exit(main())
