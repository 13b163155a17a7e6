"""Local runs: the file runs in a child process of the same interpreter, the spec injected.

The child (``python -m mlrun.runtimes.child``) builds the context from ``MLRUN_EXEC_CONFIG``,
runs the script (or calls ``--handler``) and commits the final record into the run store.  This
side streams the child's output to the terminal, secrets masked, keeps it as the run's log, and
makes sure a record exists whatever happened to the child.
"""
from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import threading

from ..config import DBPATH_ENV, EXEC_CONFIG_ENV, EXEC_SECRETS_ENV, PROGRESS_FD_ENV
from ..errors import InvalidInputError, NotFoundError
from ..model import RunRecord, now_iso
from ..secrets import SecretsStore, mask_bytes
from .base import Runtime, RunOutcome


class LocalRuntime(Runtime):
    kind = "local"

    def validate(self, record: RunRecord) -> None:
        path = self.target
        if not os.path.isfile(path):
            raise InvalidInputError(f"file not found: {path}")
        handler = record.spec.runtime.get("handler")
        if handler and handler not in top_level_names(path):
            raise InvalidInputError(f"handler {handler!r} not found in {path}")

    def run(self, record: RunRecord, secrets: SecretsStore, dbpath: str, stream: bool = True) -> RunOutcome:
        from ..rundb import get_run_db

        env = dict(os.environ)
        env[EXEC_CONFIG_ENV] = record.to_json()
        env[EXEC_SECRETS_ENV] = json.dumps(secrets.inline_values())
        env[DBPATH_ENV] = dbpath
        env["PYTHONUNBUFFERED"] = "1"  # stream output as it is printed, not when the child exits
        command = [sys.executable, "-m", "mlrun.runtimes.child"]
        masked = list(secrets.items().values())
        log = _LogCollector(masked, stream)
        # progress bars need a terminal, which the child's piped stderr is not: give it a channel of its own
        bars_read, bars_write = os.pipe() if stream and _is_terminal(sys.stderr) else (None, None)
        env.pop(PROGRESS_FD_ENV, None)
        if bars_write is not None:
            env[PROGRESS_FD_ENV] = str(bars_write)
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                pass_fds=() if bars_write is None else (bars_write,))
        pumps = [threading.Thread(target=log.pump, args=(proc.stdout, sys.stdout), daemon=True),
                 threading.Thread(target=log.pump, args=(proc.stderr, sys.stderr), daemon=True)]
        if bars_write is not None:
            os.close(bars_write)  # the child now holds the only writer: the relay ends when the child does
            pumps.append(threading.Thread(target=log.relay, args=(bars_read, sys.stderr), daemon=True))
        for pump in pumps:
            pump.start()
        try:
            returncode = proc.wait()
        except KeyboardInterrupt:  # the child got the same SIGINT: let it record its end
            returncode = proc.wait()
        for pump in pumps:
            pump.join()

        try:
            final = RunRecord.from_dict(get_run_db(dbpath).read_run(record.uid, record.metadata.iteration))
        except NotFoundError:
            final = record.copy()  # the child died before its first commit
        if returncode != 0 and final.status.state != "error":
            final.status.state = "error"
            final.status.error = _exit_reason(returncode)
        elif final.status.state in ("created", "running"):
            final.status.state = "completed"
        final.status.last_update = now_iso()
        return RunOutcome(final, log.getvalue())


def _exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"process killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"process killed by signal {-returncode}"
    return f"process exited with code {returncode}"


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


class _LogCollector:
    """Collects a child's stdout and stderr line by line, masking secrets, echoing when streaming."""

    def __init__(self, secrets: list[str], stream: bool):
        self._secrets = secrets
        self._stream = stream
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()

    def pump(self, pipe, terminal) -> None:
        for line in iter(pipe.readline, b""):
            line = mask_bytes(line, self._secrets)
            with self._lock:
                self._chunks.append(line)
                if self._stream:
                    _echo(line, terminal)
        pipe.close()

    def relay(self, fd: int, terminal) -> None:
        """Copy what the child draws on ``fd`` (progress bars) to the terminal as it comes; none of it is kept."""
        with os.fdopen(fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                with self._lock:
                    _echo(mask_bytes(chunk, self._secrets), terminal)

    def getvalue(self) -> bytes:
        with self._lock:
            return b"".join(self._chunks)


def _echo(data: bytes, terminal) -> None:
    out = getattr(terminal, "buffer", None)
    if out is not None:
        out.write(data)
        out.flush()
    else:
        terminal.write(data.decode("utf-8", "replace"))


def _is_terminal(stream) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed
        return False
