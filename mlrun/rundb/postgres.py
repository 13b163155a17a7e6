"""A run store in PostgreSQL: ``postgresql://user@host[:port]/db`` (or ``postgres://``), for team servers.

Several ``mlrun server`` processes (and machines) share one database.  Nothing is cached between
calls: every answer is read from the database.  The schema is created, and migrated, on first use
(``MIGRATIONS``, recorded in ``schema_version``; an advisory lock lets one process at a time do it).

Listings read ``runs`` only: a run's summary (JSONB) and indexed columns.  The full record is in
``run_records`` and logs are in ``run_logs``, so a record with a million metric points costs a
listing nothing.  Numeric outputs and parameters are also rows of ``run_numbers`` (indexed by key
and value): a filter such as ``outputs.accuracy > 0.9`` reads an index, not every summary.

The password comes from the URL, ``PGPASSWORD``, ``~/.pgpass`` (libpq reads both) or
``MLRUN_PG_PASSWORD``; it never appears in an error message.

Every call has a deadline (``$MLRUN_PG_TIMEOUT``, default 30 s, and no later than the deadline of the caller a
run server serves, ``caller_deadline``): connecting, each statement and a transaction left idle are bounded on the
server's side, and a watchdog shuts the connection down when the deadline passes, so a frozen PostgreSQL (which
bounds nothing) cannot hold a caller.  A write whose caller gave up is never applied later: its transaction ends
with a check of PostgreSQL's clock against the deadline, and rolls back when it reaches the server too late.
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Mapping
from contextlib import contextmanager, nullcontext
from urllib.parse import unquote, urlsplit

from ..errors import StoreError
from .base import (
    RunDB,
    caller_deadline,
    capped_log,
    check_sort,
    checked_record,
    indexed_values,
    password_spellings,
    record_of_row,
    run_not_found,
)

#: seconds a call to PostgreSQL may take (connect, each statement, an idle transaction); default 30: below the
#: run server's clients' ``$MLRUN_DB_TIMEOUT`` (60), so a server answers 503 before its client gives up
TIMEOUT_ENV = "MLRUN_PG_TIMEOUT"
DEFAULT_TIMEOUT = 30.0
#: the last statement of every write: fails (rolling the write back) once PostgreSQL's clock is past the deadline
_IN_TIME = "SELECT 1 / (clock_timestamp() <= to_timestamp(%s))::int"

#: the schema, one step per version: a database at version N runs steps N+1... in order, each in a transaction
MIGRATIONS = (
    """
    -- text in byte order ("C"), whatever the database's locale: sorted and compared as SQLite and Python do
    CREATE TABLE runs (
        uid TEXT COLLATE "C" NOT NULL,
        iteration INTEGER NOT NULL DEFAULT 0,
        project TEXT COLLATE "C" NOT NULL DEFAULT '',
        name TEXT COLLATE "C" NOT NULL DEFAULT '',
        state TEXT COLLATE "C" NOT NULL DEFAULT '',
        start_time TEXT COLLATE "C" NOT NULL DEFAULT '',
        last_update TEXT COLLATE "C" NOT NULL DEFAULT '',
        labels JSONB NOT NULL DEFAULT '{}',
        summary JSONB NOT NULL,
        PRIMARY KEY (uid, iteration)
    );
    CREATE INDEX runs_by_start_time ON runs (iteration, start_time, uid);
    CREATE INDEX runs_by_last_update ON runs (iteration, last_update, uid);
    CREATE INDEX runs_by_name ON runs (iteration, name, uid);
    CREATE INDEX runs_by_state ON runs (iteration, state, uid);
    CREATE INDEX runs_by_project ON runs (iteration, project, start_time);
    CREATE INDEX runs_by_uid ON runs (iteration, uid);
    CREATE INDEX runs_by_labels ON runs USING GIN (labels jsonb_path_ops);
    CREATE TABLE run_records (
        uid TEXT COLLATE "C" NOT NULL,
        iteration INTEGER NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (uid, iteration),
        FOREIGN KEY (uid, iteration) REFERENCES runs ON DELETE CASCADE
    );
    CREATE TABLE run_numbers (
        uid TEXT COLLATE "C" NOT NULL,
        iteration INTEGER NOT NULL,
        kind CHAR(1) NOT NULL,  -- o: an output, p: a parameter
        key TEXT COLLATE "C" NOT NULL,
        value DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (uid, iteration, kind, key),
        FOREIGN KEY (uid, iteration) REFERENCES runs ON DELETE CASCADE
    );
    CREATE INDEX run_numbers_by_value ON run_numbers (kind, key, value);
    CREATE TABLE run_logs (
        id BIGSERIAL PRIMARY KEY,
        uid TEXT COLLATE "C" NOT NULL,
        data BYTEA NOT NULL
    );
    CREATE INDEX run_logs_by_uid ON run_logs (uid, id);
    """,
    # times as UTC text (``model.utc_time``'s form), compared as instants; one that is not a time with a zone
    # (written by an earlier version or by hand) becomes unknown: empty
    r"""
    CREATE FUNCTION pg_temp.mlrun_utc(t TEXT) RETURNS TEXT LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
        at TIMESTAMP;
    BEGIN
        IF t !~ '(Z|z|[+-]\d\d(:?\d\d(:?\d\d(\.\d+)?)?)?)$' THEN
            RETURN '';
        END IF;
        at := t::TIMESTAMPTZ AT TIME ZONE 'UTC';
        RETURN to_char(at, 'YYYY-MM-DD"T"HH24:MI:SS')
            || CASE WHEN date_trunc('second', at) = at THEN '' ELSE to_char(at, '.US') END || '+00:00';
    EXCEPTION WHEN OTHERS THEN
        RETURN '';
    END $$;
    UPDATE runs SET start_time = pg_temp.mlrun_utc(start_time), last_update = pg_temp.mlrun_utc(last_update)
        WHERE start_time <> pg_temp.mlrun_utc(start_time) OR last_update <> pg_temp.mlrun_utc(last_update);
    """,
)
#: any number, the same in every process: the advisory lock schema changes take
_SCHEMA_LOCK = 0x6D6C72756E
_READ_RECORD = "SELECT record FROM run_records WHERE uid = %s AND iteration = %s"
_UPSERT_RUN = (
    "INSERT INTO runs (uid, iteration, project, name, state, start_time, last_update, labels, summary)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (uid, iteration) DO UPDATE SET"
    " project = excluded.project, name = excluded.name, state = excluded.state, start_time = excluded.start_time,"
    " last_update = excluded.last_update, labels = excluded.labels, summary = excluded.summary")
_UPSERT_RECORD = ("INSERT INTO run_records (uid, iteration, record) VALUES (%s, %s, %s)"
                  " ON CONFLICT (uid, iteration) DO UPDATE SET record = excluded.record")


def mask_password(text: str, url: str) -> str:
    """``text`` with the password of ``url`` (and of any ``scheme://user:password@`` in it) masked."""
    import re

    secrets = {*password_spellings(url), *(p for p in (os.environ.get("PGPASSWORD"),
                                                         os.environ.get("MLRUN_PG_PASSWORD")) if p)}
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return re.sub(r"(://[^/:@\s]*:)[^@\s]*@", r"\1***@", text)


def _password(url: str) -> str:
    try:
        return unquote(urlsplit(url).password or "")
    except ValueError:
        return ""


_LOG_TAIL = ("SELECT data, total FROM (SELECT id, data, SUM(octet_length(data)) OVER (ORDER BY id DESC) AS upto,"
             " SUM(octet_length(data)) OVER () AS total FROM run_logs WHERE uid = %s) AS chunks"
             " WHERE upto - octet_length(data) < %s ORDER BY id")

class PostgresRunDB(RunDB):
    """Runs in a PostgreSQL database; ``url`` is a libpq connection URL."""

    def __init__(self, url: str):
        super().__init__(url)
        self._local = threading.local()
        self._address = f"run store {mask_password(url, url)}"  # what a call that overran names
        from ..secrets import register

        # whatever prints the URL (a server's start line, a log record) shows *** instead
        register([*password_spellings(url), *(p for p in (os.environ.get("MLRUN_PG_PASSWORD"),) if p)])

    def __repr__(self) -> str:
        return f"PostgresRunDB({mask_password(self.url, self.url)!r})"

    # --- connections -----------------------------------------------------------------------------------------

    @property
    def _conn(self):
        # one connection per thread and process: a forked server worker opens its own
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or self._local.pid != os.getpid():
            conn = self._local.conn = self._connect()
            self._local.pid = os.getpid()
        return conn

    def _connect(self):
        import psycopg

        options = {}
        if not _password(self.url) and os.environ.get("MLRUN_PG_PASSWORD"):
            options["password"] = os.environ["MLRUN_PG_PASSWORD"]
        seconds = call_seconds()
        limit_ms = max(1, int(seconds * 1000))
        connect_timeout = min(int(os.environ.get("MLRUN_PG_CONNECT_TIMEOUT", "10")), math.ceil(seconds))
        from ..transport import current

        call = current()
        try:
            conn = _connect_within(seconds if call is None else call, lambda: psycopg.connect(
                self.url.replace("postgres://", "postgresql://", 1), autocommit=True,
                connect_timeout=max(connect_timeout, 1),
                options=f"-c statement_timeout={limit_ms} -c idle_in_transaction_session_timeout={limit_ms}",
                **options))
        except (psycopg.Error, ValueError) as exc:
            raise StoreError(self._message("cannot connect to run store", exc)) from None
        if call is not None:  # the schema check below is part of the call that connects
            call.watch(conn)
        try:
            self._migrate(conn)
            # PostgreSQL's clock against ours (the deadline check compares them): a skewed clock must not refuse writes
            self._local.skew = float(conn.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()[0]) \
                - time.time()
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(self._message("cannot create the run store's schema in", exc)) from None
        return conn

    def _message(self, what: str, exc: Exception) -> str:
        where = mask_password(self.url, self.url)
        reason = " ".join(str(exc).split())  # libpq messages span lines; one line, password masked
        return mask_password(f"{what} {where}: {reason}", self.url)

    @staticmethod
    def _migrate(conn) -> None:
        version = _schema_version(conn)
        if version >= len(MIGRATIONS):
            return
        with conn.transaction():  # the lock is held to the end of the transaction: one migrating process
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            for number, step in enumerate(MIGRATIONS[row[0] or 0:], start=(row[0] or 0) + 1):
                conn.execute(step)
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))

    @contextmanager
    def _bounded(self, seconds: float | None = None):
        """The connection, for one call within its deadline (``seconds``, default ``call_seconds()``); errors as
        ``StoreError``, and a call that overran as ``DeadlineExceeded`` (the connection is then shut down and
        dropped)."""
        import psycopg

        from ..transport import Call

        call = Call(self._address, call_seconds() if seconds is None else seconds, TIMEOUT_ENV)
        try:
            with call:
                conn = self._conn
                call.watch(conn)
                yield conn
        except psycopg.Error as exc:
            if call.expired:
                self.close()
                raise call.error() from None
            self._reset_if_broken()
            if isinstance(exc, psycopg.errors.DivisionByZero):
                raise StoreError(self._message("run store", "the write reached PostgreSQL after its deadline "
                                               "and was not applied")) from None
            raise StoreError(self._message("run store", exc)) from None
        finally:
            call.finish()

    def _run(self, sql: str, args=()):
        with self._bounded() as conn:
            return conn.execute(sql, args)

    def _reset_if_broken(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn.broken:
            conn.close()
            self._local.conn = None

    @contextmanager
    def _transaction(self, pipelined: bool = True):
        """A transaction within the call's deadline: it commits only when PostgreSQL reaches its end in time."""
        seconds = call_seconds()
        until = time.time() + seconds
        # pipelined: the transaction's statements go in one round trip, not one each
        with self._bounded(seconds) as conn, conn.pipeline() if pipelined else nullcontext(), conn.transaction():
            yield
            conn.execute(_IN_TIME, (until + getattr(self._local, "skew", 0.0),))  # by PostgreSQL's clock

    def check(self) -> None:
        self._run("SELECT 1")

    # --- the RunDB contract ----------------------------------------------------------------------------------

    def store_run_data(self, data: dict) -> None:
        rows = self._rows(data)  # a bad record fails before the transaction opens
        with self._transaction():
            self._write(*rows)

    def store_run_data_and_log(self, data: dict, log: bytes) -> None:
        rows = self._rows(data)
        with self._transaction():
            self._write(*rows)
            self._replace_log(data["metadata"]["uid"], log)

    @staticmethod
    def _rows(record: dict) -> tuple:
        from psycopg.types.json import Jsonb

        run, record = checked_record(record)
        meta, status, summary = run.metadata, run.status, run.summary()
        key = (meta.uid, meta.iteration)
        numbers = [(*key, *number) for number in indexed_values(summary)[0]]
        return ((*key, meta.project, meta.name, status.state, status.start_time, status.last_update,
                 Jsonb(meta.labels), Jsonb(summary)), (*key, json.dumps(record)), numbers)

    def _write(self, run: tuple, record: tuple, numbers: list) -> None:
        conn = self._conn
        conn.execute(_UPSERT_RUN, run)
        conn.execute(_UPSERT_RECORD, record)
        conn.execute("DELETE FROM run_numbers WHERE uid = %s AND iteration = %s", run[:2])
        if numbers:
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO run_numbers (uid, iteration, kind, key, value)"
                                " VALUES (%s, %s, %s, %s, %s)", numbers)

    def read_run_data(self, uid: str, iteration: int = 0) -> dict:
        return record_of_row(self._run(_READ_RECORD, (uid, iteration)).fetchone(), uid, iteration)

    def list_summaries(self, name=None, project=None, labels: Mapping | None = None, state=None, since=None,
                       until=None, sort="start_time", desc=True, limit=None, offset=0, iterations=False) -> list[dict]:
        check_sort(sort)
        return self.search_runs(None, sort, desc, limit, offset, name=name, project=project, labels=labels,
                                state=state, since=since, until=until, iterations=iterations)[0]

    def run_data_of(self, project=None):
        where, args = self.where(project=project, iterations=True)
        sql = (f"SELECT r.record FROM runs JOIN run_records r USING (uid, iteration){where}"
               " ORDER BY runs.start_time DESC, runs.uid DESC")
        for row in self._run(sql, args).fetchall():
            yield json.loads(row[0])

    def count_runs(self, name=None, project=None, labels: Mapping | None = None, state=None, since=None, until=None,
                   iterations=False, **_ignored) -> int:
        from .search import count

        return count(self, *self.where(name, project, labels, state, since, until, iterations))

    def search_runs(self, filter=None, sort="start_time", desc=True, limit=None, offset=0, total_exact=False,
                    **filters):
        from .filters import POSTGRES
        from .search import search_in_sql

        return search_in_sql(self, POSTGRES, filter, sort, desc, limit, offset, filters, total_exact)

    def query(self, sql: str, args) -> list:
        return self._run(sql, args).fetchall()

    @staticmethod
    def where(name=None, project=None, labels=None, state=None, since=None, until=None, iterations=False):
        from .filters import POSTGRES

        return POSTGRES.listing_where(name, project, labels, state, since, until, iterations)

    def del_run(self, uid: str) -> None:
        with self._transaction(pipelined=False):  # the count of deleted rows is read inside
            deleted = self._conn.execute("DELETE FROM runs WHERE uid = %s", (uid,)).rowcount
            self._conn.execute("DELETE FROM run_logs WHERE uid = %s", (uid,))
        if not deleted:
            raise run_not_found(uid)

    def store_log(self, uid: str, data: bytes, append: bool = True) -> None:
        if append:
            if data:
                stored = self._run("SELECT COALESCE(SUM(octet_length(data)), 0) FROM run_logs WHERE uid = %s",
                                   (uid,)).fetchone()[0]
                data = capped_log(data, int(stored))
            if data:
                with self._transaction():
                    self._conn.execute("INSERT INTO run_logs (uid, data) VALUES (%s, %s)", (uid, bytes(data)))
            return
        with self._transaction():
            self._replace_log(uid, data)

    def _replace_log(self, uid: str, data: bytes) -> None:
        self._conn.execute("DELETE FROM run_logs WHERE uid = %s", (uid,))
        data = capped_log(data)
        if data:
            self._conn.execute("INSERT INTO run_logs (uid, data) VALUES (%s, %s)", (uid, bytes(data)))

    def read_log_tail(self, uid: str, size: int) -> tuple[bytes, int]:
        # only the last chunks that hold the tail are read (a window over the chunks' sizes, newest first)
        return self.tail_of_chunks(uid, self._run(_LOG_TAIL, (uid, size)).fetchall(), size)

    def read_log(self, uid: str) -> bytes:
        rows = self._run("SELECT data FROM run_logs WHERE uid = %s ORDER BY id", (uid,)).fetchall()
        if not rows and self._run("SELECT 1 FROM runs WHERE uid = %s LIMIT 1", (uid,)).fetchone() is None:
            raise run_not_found(uid)
        return b"".join(bytes(row[0]) for row in rows)

    @contextmanager
    def run_lock(self, uid: str, iteration: int = 0):
        """Hold the run for a read-modify-write (a PATCH) against every other process, to its end."""
        with self._transaction(pipelined=False):
            self._conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s), %s)", (uid, iteration))
            yield

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _schema_version(conn) -> int:
    exists = conn.execute("SELECT to_regclass('schema_version')").fetchone()[0]
    if exists is None:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]


def _connect_within(bound, connect):
    """``connect()`` within ``bound`` (a ``transport.Call``, or seconds): psycopg bounds connecting in whole seconds,
    two at least, so a thread waits for it; a connection that arrives too late is closed."""
    from concurrent.futures import Future
    from concurrent.futures import TimeoutError as Late

    future: Future = Future()

    def attempt():
        try:
            future.set_result(connect())
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            future.set_exception(exc)

    threading.Thread(target=attempt, name="mlrun-pg-connect", daemon=True).start()
    seconds = bound if isinstance(bound, (int, float)) else bound.remaining()
    try:
        return future.result(timeout=max(seconds, 0))
    except Late:
        future.add_done_callback(lambda done: done.exception() is None and done.result().close())
        if isinstance(bound, (int, float)):
            from ..transport import DeadlineExceeded

            raise DeadlineExceeded(f"no connection to the run store within {seconds:g}s "
                                   f"(set ${TIMEOUT_ENV} to wait longer)") from None
        raise bound.error() from None


def call_seconds() -> float:
    """Seconds the next call may take: ``$MLRUN_PG_TIMEOUT``, and no more than its caller has left."""
    from ..config import env_seconds

    seconds = env_seconds(TIMEOUT_ENV, DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT
    until = caller_deadline()
    if until is not None:
        seconds = min(seconds, until - time.time())
        if seconds <= 0:
            from ..transport import DeadlineExceeded

            raise DeadlineExceeded("the caller's deadline passed before the run store was called")
    return seconds
