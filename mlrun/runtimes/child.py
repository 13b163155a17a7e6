"""The child side of a local run: ``python -m mlrun.runtimes.child``.

The spec and inline secrets come through the descriptor in ``MLRUN_EXEC_CONFIG_FD`` (or, from other
launchers, ``MLRUN_EXEC_CONFIG``).  Output goes to the launcher through pipes; if the launcher is
killed (SIGKILL) those pipes break, and the run goes on: its further output is dropped (stdout and
stderr now lead to ``/dev/null``), a line in the store's log says so, and the run still records its
true final state.
"""
from __future__ import annotations

import contextlib
import os
import runpy
import signal
import sys
import traceback

from ..config import PROGRESS_FD_ENV
from ..context import get_or_create_ctx
from ..loader import call_handler, file_handler_form, handler_returns, record_result, resolve_handler

#: appended to the stored log when the launcher went away during the run
LAUNCHER_GONE = "mlrun: the launcher ended during the run; output after that is not kept\n"


class _LauncherPipes:
    """Keeps the run alive when the launcher reading its stdout/stderr is gone (a broken pipe)."""

    def __init__(self):
        self.broken = False

    def detach(self) -> None:
        """Point stdout and stderr at ``/dev/null``: later writes (here, or from processes started later) succeed."""
        if not self.broken:
            self.broken = True
            null = os.open(os.devnull, os.O_WRONLY)
            for fd in (1, 2):
                os.dup2(null, fd)
            os.close(null)

    def guard(self, stream):
        return stream if stream is None else _GuardedStream(stream, self)


class _GuardedStream:
    """A stream whose writes survive the launcher's end of the pipe closing."""

    def __init__(self, stream, pipes: _LauncherPipes):
        self._stream = stream
        self._pipes = pipes

    def _call(self, method: str, *args):
        try:
            return getattr(self._stream, method)(*args)
        except BrokenPipeError:
            self._pipes.detach()
            return getattr(self._stream, method)(*args)  # now to /dev/null

    def write(self, data):
        return self._call("write", data)

    def writelines(self, lines):
        return self._call("writelines", lines)

    def flush(self):
        return self._call("flush")

    @property
    def buffer(self):
        buffer = getattr(self._stream, "buffer", None)
        return buffer if buffer is None else _GuardedStream(buffer, self._pipes)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def param_args(parameters: dict) -> list[str]:
    """``{"p1": 5, "name": "x", "flag": True}`` -> ``["--p1", "5", "--name", "x", "--flag", "true"]`` (text as is,
    other values as JSON)."""
    import json

    args = []
    for key, value in parameters.items():
        args += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    return args


def unread_parameters(ctx, path: str) -> None:
    """Say, once on stderr, that a script which never asked for its context left its parameters unread."""
    given = [key for key in ctx.parameters if not key.startswith("_")]
    if given and not ctx.claimed and ctx.runtime.get("mode") != "noctx" and not ctx.iteration:
        print(f"mlrun: {os.path.basename(path)} never calls get_or_create_ctx, so its parameters "
              f"({', '.join(given)}) went unread; --mode noctx passes them as --KEY VALUE arguments",
              file=sys.stderr)


def main() -> int:
    if os.environ.get(PROGRESS_FD_ENV):
        from ..datastore.progress import adopt_launcher_stream

        adopt_launcher_stream()
    pipes = _LauncherPipes()
    sys.stdout, sys.stderr = pipes.guard(sys.stdout), pipes.guard(sys.stderr)
    ctx = get_or_create_ctx("")
    runtime = ctx.runtime
    path = os.path.abspath(runtime.get("command", ""))
    handler = runtime.get("handler") or ""
    sys.argv = [path, *[str(a) for a in runtime.get("args") or []]]
    if runtime.get("mode") == "noctx":  # a script that reads no context: its parameters as --KEY VALUE arguments
        sys.argv += param_args(ctx.parameters)
    sys.path.insert(0, os.path.dirname(path))
    if ctx.started:  # the run is visible as running from here on (a launcher that stored it so already did that)
        ctx.commit()
    error = None
    try:
        if handler:
            namespace = runpy.run_path(path, run_name="__mlrun_handler__")
            fn = resolve_handler(namespace, handler, path, ctx.parameters.get("_init_args"))
            record_result(ctx, call_handler(fn, ctx, file_handler_form(fn, ctx)), handler_returns(fn, ctx))
        else:
            runpy.run_path(path, run_name="__main__")
            unread_parameters(ctx, path)
    except SystemExit as exc:
        error = exc  # finish() tells sys.exit(0) from a failing exit
    except BaseException as exc:  # noqa: BLE001 - whatever the code raised ends the run in state error
        error = exc
        tb = traceback.TracebackException.from_exception(exc)
        tb.stack = traceback.StackSummary.from_list([f for f in tb.stack if f.filename != __file__
                                                     and "runpy" not in os.path.basename(f.filename)])
        sys.stderr.write(ctx.mask("".join(tb.format())))
    # a launcher passing on a terminal's Ctrl-C sends a second SIGINT: it must not cut the final commit short
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if ctx.state != "error":  # an exception raised after the code completed the run still fails it
        ctx.finish(error)
    else:  # the code failed the run itself (ctx.finish or a context manager): keep its reason
        ctx.commit()
    if pipes.broken:
        with contextlib.suppress(Exception):  # the record is what matters; nobody is left to tell
            ctx.append_log(LAUNCHER_GONE.encode())
    return 0 if ctx.state != "error" else 1


if __name__ == "__main__":
    sys.exit(main())
