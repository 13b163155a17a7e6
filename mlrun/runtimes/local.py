"""Local runs: the file runs in a child process of the same interpreter, the spec injected.

The child (``python -m mlrun.runtimes.child``) reads the spec and the inline secret values from a
pipe (``MLRUN_EXEC_CONFIG_FD``: any size, and never in an environment a grandchild inherits), runs
the script (or calls ``--handler``) and commits the final record into the run store.  This side
streams the child's output to the terminal, secrets masked, appends it to the store in batches
while the run goes (``MLRUN_LOG_FLUSH_INTERVAL``) and keeps it as the run's log, passes SIGTERM and
SIGINT on to the child, and makes sure a record exists, never left ``created``, whatever happened.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

from ..config import (
    DBPATH_ENV,
    EXEC_CONFIG_ENV,
    EXEC_CONFIG_FD_ENV,
    EXEC_SECRETS_ENV,
    LOG_FLUSH_ENV,
    PROGRESS_FD_ENV,
    STOP_TIMEOUT_ENV,
    env_seconds,
)
from ..errors import InvalidInputError, NotFoundError
from ..loader import check_handler
from ..model import RunRecord
from ..rundb.base import password_spellings
from ..secrets import SecretsStore, mask_bytes
from .base import RunOutcome, Runtime


class LocalRuntime(Runtime):
    kind = "local"
    stores_running = True

    def validate(self, record: RunRecord) -> None:
        check_handler(self.target, record.spec.runtime.get("handler") or "")
        _settings()  # a bad setting is a usage error, before anything is recorded

    def run(self, record: RunRecord, secrets: SecretsStore, rundb: str, stream: bool = True) -> RunOutcome:
        from ..rundb import get_run_db

        db = get_run_db(rundb)
        try:
            interval, stop_timeout = _settings()
        except InvalidInputError as exc:  # run() without validate(): the record must still not stay created
            return _launch_failed(record, str(exc))
        if record.metadata.iteration:  # iterations share their parent's uid: the sweep stores their joined log
            interval = 0
        appender = _LogAppender(db, record.uid, interval) if interval else None
        # the store's URL reaches the child (MLRUN_DBPATH): its password is hidden, however the code spells it
        log = _LogCollector([*secrets.secret_values(), *password_spellings(rundb)], stream, appender)
        guard = _SignalGuard(stop_timeout)
        with guard:
            proc, spec_write, bars_read, failure = _launch(rundb, stream)
            if proc is None:
                return _launch_failed(record, secrets.mask(failure))
            guard.watch(proc)
            pumps = _start_relay(proc, log, bars_read, appender)
            failure = _hand_spec(proc, spec_write, secrets, record)
            returncode = proc.wait()
            guard.child_ended()
            _stop_relay(pumps, appender)
        final, stored = _final_record(db, record, guard.signum, failure and secrets.mask(failure), returncode)
        outcome = RunOutcome(final, log.getvalue(), stored, appender.kept if appender is not None else 0)
        if guard.signum:
            from ..rundb.spool import store_final

            # this process goes down with the signal: record the run and its log now, then let the signal act
            store_final(db, final.to_dict(copy=False), outcome.log)
            print(f"mlrun: run {final.uid} {final.status.error}", file=sys.stderr)
            guard.redeliver()
        return outcome


def _child_env(rundb: str) -> dict[str, str]:
    """The child's environment: this one, without what this process was handed, with the run store."""
    env = dict(os.environ)
    for name in (EXEC_CONFIG_ENV, EXEC_SECRETS_ENV, EXEC_CONFIG_FD_ENV, PROGRESS_FD_ENV):
        env.pop(name, None)  # what this process was handed is not its child's
    env[DBPATH_ENV] = rundb
    env["PYTHONUNBUFFERED"] = "1"  # stream output as it is printed, not when the child exits
    return env


def _launch(rundb: str, stream: bool) -> tuple[subprocess.Popen | None, int, int | None, str]:
    """Start the child: its process (None if it could not start), the pipe end its spec is written to,
    the read end of its progress-bar channel (None: no terminal to show bars on) and why it failed."""
    env = _child_env(rundb)
    command = [sys.executable, "-m", "mlrun.runtimes.child"]
    # the spec and the inline secrets go through a pipe: any size, and never in an environment
    spec_read, spec_write = os.pipe()
    env[EXEC_CONFIG_FD_ENV] = str(spec_read)
    # progress bars need a terminal, which the child's piped stderr is not: give it a channel of its own
    bars_read, bars_write = os.pipe() if stream and _is_terminal(sys.stderr) else (None, None)
    if bars_write is not None:
        env[PROGRESS_FD_ENV] = str(bars_write)
    proc = None
    failure = ""
    try:
        try:
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                    pass_fds=(spec_read,) if bars_write is None else (spec_read, bars_write))
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            failure = f"cannot start the run's process ({command[0]}): {_os_reason(exc)}"
    finally:
        os.close(spec_read)
        if bars_write is not None:
            os.close(bars_write)  # the child now holds the only writer: the relay ends when the child does
    if proc is None:
        os.close(spec_write)
        if bars_read is not None:
            os.close(bars_read)
    return proc, spec_write, bars_read, failure


def _start_relay(proc: subprocess.Popen, log: _LogCollector, bars_read: int | None,
                 appender: _LogAppender | None) -> list[threading.Thread]:
    """Threads that relay the child's output to the terminal and the log, and the log appender, started."""
    pumps = [threading.Thread(target=log.pump, args=(proc.stdout, sys.stdout), daemon=True),
             threading.Thread(target=log.pump, args=(proc.stderr, sys.stderr), daemon=True)]
    if bars_read is not None:
        pumps.append(threading.Thread(target=log.relay, args=(bars_read, sys.stderr), daemon=True))
    for pump in pumps:
        pump.start()
    if appender is not None:
        appender.start()
    return pumps


def _stop_relay(pumps: list[threading.Thread], appender: _LogAppender | None) -> None:
    """Wait for the relay to drain the ended child's output; stop appending the log."""
    for pump in pumps:
        pump.join()
    if appender is not None:
        appender.stop()  # before the final store, which replaces what was appended


def _hand_spec(proc: subprocess.Popen, spec_write: int, secrets: SecretsStore, record: RunRecord) -> str:
    """Write the inline secrets and the spec to the child's pipe; why it failed ("" if it did not),
    the child killed then."""
    try:
        with open(spec_write, "wb", closefd=True) as pipe:
            pipe.write(json.dumps(secrets.inline_values()).encode() + b"\n" + record.to_json().encode())
    except OSError as exc:  # the child ended before reading it
        proc.kill()
        return f"cannot hand the run spec to its process: {_os_reason(exc)}"
    return ""


def _final_record(db, record: RunRecord, signum: int, failure: str, returncode: int) -> tuple[RunRecord, bool]:
    """The run's final record: what the child committed (or the spec, if it never did), failed when the
    run was interrupted by ``signum``, could not be handed its spec (``failure``) or its process failed;
    and whether the store holds it as it is (the child committed its end and nothing was added)."""
    from ..errors import StoreError
    from ..rundb.spool import kept

    try:
        data = db.read_run_data(record.uid, record.metadata.iteration)
    except NotFoundError:
        data = None  # the child died before its first commit
    except StoreError:  # the store is out: the end the child kept on this machine, if it did
        data = kept(db.url, record.uid, record.metadata.iteration)
    final = record.copy() if data is None else RunRecord.from_dict(data)  # text that would not encode, escaped
    if signum:
        final.fail(f"interrupted by {signal.Signals(signum).name}")
    elif failure:
        final.fail(failure)
    elif returncode != 0 and final.state != "error":
        final.fail(exit_reason(returncode))
    elif final.state in ("created", "running"):
        final.complete()
    elif final.to_dict(copy=False) == data:  # as the child committed it: no need to store it again
        return final, True
    else:  # reading it back changed it (text escaped): stored again
        final.touch()
    return final, False


def _settings() -> tuple[float, float]:
    """Seconds between log appends (0: none) and seconds a signalled child gets before it is killed."""
    return env_seconds(LOG_FLUSH_ENV, 1.0), env_seconds(STOP_TIMEOUT_ENV, 10.0)


def _launch_failed(record: RunRecord, reason: str) -> RunOutcome:
    """The outcome of a run whose process could not be started: recorded in state ``error``, never ``created``."""
    final = record.copy()
    final.fail(reason)
    return RunOutcome(final)


def exit_reason(returncode: int) -> str:
    """Why a process ended, from its return code (negative: the signal that killed it)."""
    if returncode < 0:
        try:
            return f"process killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"process killed by signal {-returncode}"
    return f"process exited with code {returncode}"


def _os_reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


class _SignalGuard:
    """While a child runs: SIGTERM/SIGINT to this process are passed on to the child, which gets
    ``timeout`` seconds to end before it is killed; the signal is remembered (``signum``) so the run
    can be recorded as interrupted, then delivered again (``redeliver``) so this process ends as asked.
    Only the main thread can take signals; elsewhere this does nothing."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.signum = 0
        self._previous: dict = {}
        self._wake_read = self._wake_write = -1
        self._watcher: threading.Thread | None = None

    def __enter__(self) -> _SignalGuard:
        if threading.current_thread() is threading.main_thread():
            # the handler only writes a byte to a pipe (no lock can be held twice); a thread does the rest
            self._wake_read, self._wake_write = os.pipe()
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        self.child_ended()
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        if self._watcher is not None:
            self._watcher.join()
        for fd in (self._wake_read, self._wake_write):
            if fd >= 0:
                os.close(fd)
        self._wake_read = self._wake_write = -1

    def _handle(self, signum, frame) -> None:
        if not self.signum:
            self.signum = signum
            os.write(self._wake_write, b"s")

    def watch(self, proc: subprocess.Popen) -> None:
        if self._previous:
            self._watcher = threading.Thread(target=self._watch, args=(proc,), daemon=True)
            self._watcher.start()

    def child_ended(self) -> None:
        if self._wake_write >= 0 and self._watcher is not None and self._watcher.is_alive():
            os.write(self._wake_write, b"e")

    def _watch(self, proc: subprocess.Popen) -> None:
        import select

        if os.read(self._wake_read, 1) != b"s":
            return
        try:
            proc.send_signal(self.signum)
            if not select.select([self._wake_read], [], [], self.timeout)[0]:
                proc.kill()
        except OSError:  # already gone
            pass

    def redeliver(self) -> None:
        previous = self._previous.get(self.signum)
        if previous is not None:
            signal.signal(self.signum, previous)
            signal.raise_signal(self.signum)


class _LogCollector:
    """Collects a child's stdout and stderr line by line, masking secrets, echoing when streaming."""

    def __init__(self, secrets: list[str], stream: bool, appender: _LogAppender | None = None):
        self._secrets = secrets
        self._stream = stream
        self._appender = appender
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()

    def pump(self, pipe, terminal) -> None:
        for line in iter(pipe.readline, b""):
            line = mask_bytes(line, self._secrets)
            with self._lock:
                self._chunks.append(line)
                if self._stream:
                    _echo(line, terminal)
            if self._appender is not None:
                self._appender.add(line)
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


#: a run's output is appended to the store at least this often (bytes), besides every flush interval
LOG_FLUSH_BYTES = 64 * 1024


class _LogAppender(threading.Thread):
    """Appends a running child's (masked) output to the run store in batches: every ``interval`` seconds
    or ``LOG_FLUSH_BYTES``, whichever comes first, so a launcher killed mid-run leaves what was printed.
    The run's final store replaces these chunks with the whole log (``store_run_and_log``)."""

    def __init__(self, db, uid: str, interval: float):
        super().__init__(daemon=True)
        self._db, self._uid, self._interval = db, uid, interval
        self._pending: list[bytes] = []
        self._size = 0
        self._stopped = False
        self._failed = False
        #: bytes appended to the store so far
        self.kept = 0
        self._cond = threading.Condition()

    def add(self, data: bytes) -> None:
        with self._cond:
            self._pending.append(data)
            self._size += len(data)
            if self._size >= LOG_FLUSH_BYTES:
                self._cond.notify()

    def stop(self) -> None:
        """Stop appending (what is pending stays for the final store) and wait for a write in flight."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self.is_alive():
            self.join()

    def run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopped or self._size >= LOG_FLUSH_BYTES, self._interval)
                if self._stopped:
                    return
                batch, self._pending, self._size = b"".join(self._pending), [], 0
            if batch and not self._failed:
                try:
                    self._db.store_log(self._uid, batch, append=True)
                    self.kept += len(batch)
                except Exception as exc:  # noqa: BLE001 - the final store still gets the whole log
                    self._failed = True
                    print(f"mlrun: cannot append the run's log to the store while it runs: {exc}", file=sys.stderr)


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
