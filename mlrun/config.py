"""Where mlrun keeps things, from explicit setting, then environment, then defaults."""
from __future__ import annotations

import os

#: The run spec injected into a child process (JSON).
EXEC_CONFIG_ENV = "MLRUN_EXEC_CONFIG"
#: Secret values handed to a child process; never part of a record.
EXEC_SECRETS_ENV = "MLRUN_EXEC_SECRETS"
#: A descriptor a local run's child reads its spec and inline secrets from (then closes and forgets), so that
#: neither sits in the environment of the processes the run starts, and a spec of any size gets through.
EXEC_CONFIG_FD_ENV = "MLRUN_EXEC_CONFIG_FD"
#: Where runs are stored: a directory, ``s3://bucket/prefix`` or ``http(s)://server``.
DBPATH_ENV = "MLRUN_DBPATH"
#: The seed system's name of ``MLRUN_DBPATH``, read when that is unset.
META_DBPATH_ENV = "MLRUN_META_DBPATH"
#: Default directory for artifacts when a run names no output path.
OUT_PATH_ENV = "MLRUN_OUT_PATH"
#: A descriptor a launcher passes to a child for drawing transfer progress bars (kept out of the run log).
PROGRESS_FD_ENV = "MLRUN_PROGRESS_FD"
#: Seconds between appends of a local run's output to the run store while it runs (0: only at the end).
LOG_FLUSH_ENV = "MLRUN_LOG_FLUSH_INTERVAL"
#: Seconds a local run's child has to end after its launcher passed on SIGTERM/SIGINT, before it is killed.
STOP_TIMEOUT_ENV = "MLRUN_STOP_TIMEOUT"


def home_dir() -> str:
    return os.environ.get("MLRUN_HOME") or os.path.join(os.path.expanduser("~"), ".mlrun")


def default_dbpath() -> str:
    """The run store URL: ``$MLRUN_DBPATH``, else ``$MLRUN_META_DBPATH``, else ``~/.mlrun/db`` (``$MLRUN_HOME/db``)."""
    return os.environ.get(DBPATH_ENV) or os.environ.get(META_DBPATH_ENV) or os.path.join(home_dir(), "db")


def default_out_path() -> str:
    """Where artifacts go when a run names no ``--out-path``: ``$MLRUN_OUT_PATH``, else the working directory."""
    return os.environ.get(OUT_PATH_ENV, "")


def env_seconds(name: str, default: float) -> float:
    """A duration in seconds from the environment variable ``name`` (``default`` when unset)."""
    from .errors import InvalidInputError

    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise InvalidInputError(f"{name}={text!r} is not a number of seconds (0 or more)")
    return value


_OWNER: list = []


def owner() -> str:
    """The user running the code (looked up once: a password-database lookup per run adds up in a server)."""
    if not _OWNER:
        try:
            import getpass

            _OWNER.append(getpass.getuser())
        except Exception:  # no passwd entry in some containers
            _OWNER.append(os.environ.get("USER", ""))
    return _OWNER[0]
