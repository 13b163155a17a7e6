"""A real PostgreSQL server for tests: a throw-away cluster (``initdb``) on 127.0.0.1 at a free port.

Registered in ``conftest.py`` (``pytest_plugins = ["pgserver"]``)::

    def test_something(pg_server):
        url = pg_server.new_database()   # postgresql://mlrun:PASSWORD@127.0.0.1:PORT/mlrun_test_XXXX, empty
        pg_server.password               # the cluster's password (password authentication is on)

The cluster lives in a temporary directory owned by the ``postgres`` system user (PostgreSQL refuses
to run as root: as root, ``initdb`` and ``postgres`` run through ``runuser``), listens on 127.0.0.1
and on a unix socket in that directory only, starts once per session (per xdist worker) and is
stopped and deleted at the end.  The binaries are Debian's ``postgresql`` package's
(``/usr/lib/postgresql/*/bin``; ``scripts/test.sh`` installs the package when ``initdb`` is missing).
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from helpers import free_port, stop_process

USER = "mlrun"
PASSWORD = "pg-test-password-do-not-print"


def pg_bin(name: str) -> str:
    """The path of a PostgreSQL program: on PATH, else the newest ``/usr/lib/postgresql/*/bin``."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if not candidates:
        raise RuntimeError(f"{name} not found: install PostgreSQL (Debian: apt-get install postgresql)")
    return candidates[-1]


def _as_owner(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class PGServer:
    def __init__(self, port: int, password: str = PASSWORD):
        self.port, self.password = port, password

    def url(self, database: str = "postgres", password: bool = True) -> str:
        auth = f"{USER}:{self.password}" if password else USER
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def admin(self):
        import psycopg

        return psycopg.connect(self.url(), autocommit=True)

    def new_database(self, name: str | None = None) -> str:
        """Create an empty database (a unique name by default) and return its URL (with the password)."""
        name = name or f"mlrun_test_{uuid.uuid4().hex[:12]}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def init_cluster(datadir: str) -> None:
    """``initdb`` a cluster in ``datadir`` (owned by the postgres user when run as root), password auth."""
    os.makedirs(datadir, exist_ok=True)
    pwfile = os.path.join(datadir, "..", "pwfile")
    with open(pwfile, "w") as fp:
        fp.write(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(os.path.dirname(datadir), "postgres")
        shutil.chown(datadir, "postgres")
        shutil.chown(pwfile, "postgres")
    subprocess.run(_as_owner([pg_bin("initdb"), "-D", datadir, "-U", USER, f"--pwfile={pwfile}",
                              "--auth=scram-sha-256", "-E", "UTF8", "--locale=C"]),
                   check=True, capture_output=True, timeout=120)
    os.unlink(pwfile)


@contextmanager
def running_pg_server(datadir: str | None = None, fast: bool = True,
                      settings: list | None = None) -> Iterator[PGServer]:
    """Start a cluster (a new one in a temporary directory, or the one in ``datadir``, made if needed),
    wait until it accepts connections, stop it after (and delete it if it was temporary).  ``fast`` turns
    durability off (a throw-away cluster); ``settings`` are more ``postgres`` arguments (``-c name=value``)."""
    temporary = datadir is None
    base = tempfile.mkdtemp(prefix="mlrun-pg-") if temporary else os.path.dirname(datadir)
    datadir = datadir or os.path.join(base, "data")
    if os.geteuid() == 0:
        os.chmod(base, 0o755)
    if not os.path.exists(os.path.join(datadir, "PG_VERSION")):
        init_cluster(datadir)
    sockdir = os.path.join(base, "sock")
    os.makedirs(sockdir, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(sockdir, "postgres")
    port = free_port()
    options = ["-c", "listen_addresses=127.0.0.1", "-p", str(port), "-k", sockdir, "-c", "max_connections=300",
               *(settings or [])]
    if fast:  # a throw-away cluster need not survive a power cut
        options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    with open(os.path.join(base, "postgres.log"), "ab") as log:  # the server keeps its own descriptor
        proc = subprocess.Popen(_as_owner([pg_bin("postgres"), "-D", datadir, *options]), stdout=log,
                                stderr=subprocess.STDOUT)
    server = PGServer(port)
    try:
        _wait_ready(server, proc, os.path.join(base, "postgres.log"))
        yield server
    finally:
        stop_process(proc, timeout=30)
        if temporary:
            shutil.rmtree(base, ignore_errors=True)


def _wait_ready(server: PGServer, proc: subprocess.Popen, log_path: str, timeout: float = 60) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            with open(log_path, errors="replace") as fp:
                raise RuntimeError(f"postgres exited with {proc.returncode}:\n{fp.read()[-2000:]}")
        try:
            psycopg.connect(server.url(), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise TimeoutError("postgres did not accept connections within 60 s") from None
        time.sleep(0.05)  # polling a condition with a deadline


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PGServer]:
    """One PostgreSQL cluster for the whole session."""
    with running_pg_server() as server:
        yield server


@pytest.fixture
def pg_url(pg_server) -> str:
    """The URL of a new, empty database on the session's cluster."""
    return pg_server.new_database()
