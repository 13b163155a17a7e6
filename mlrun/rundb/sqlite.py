"""The embedded run store: one SQLite file in a local directory (``~/.mlrun/db/runs.sqlite3``).

SQLite gives what a directory of YAML files cannot: atomic writes that survive SIGKILL,
many concurrent writer processes, and listing 10,000 runs without reading 10,000 files.
Records are kept as JSON; summary columns make filtered listings cheap.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Mapping
from contextlib import contextmanager

from ..errors import StoreError
from .base import RunDB, capped_log, check_sort, checked_record, indexed_values, record_of_row, run_not_found

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    uid TEXT NOT NULL,
    iteration INTEGER NOT NULL DEFAULT 0,
    project TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT '',
    start_time TEXT NOT NULL DEFAULT '',
    last_update TEXT NOT NULL DEFAULT '',
    labels TEXT NOT NULL DEFAULT '{}',
    summary TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (uid, iteration)
);
-- one index per sort order (filters.SORT_FIELDS): a page deep into 10,000 runs walks an index, never a sort
CREATE INDEX IF NOT EXISTS runs_by_start_time ON runs (iteration, start_time, uid);
CREATE INDEX IF NOT EXISTS runs_by_last_update ON runs (iteration, last_update, uid);
CREATE INDEX IF NOT EXISTS runs_by_name ON runs (iteration, name, uid);
CREATE INDEX IF NOT EXISTS runs_by_state ON runs (iteration, state, uid);
CREATE INDEX IF NOT EXISTS runs_by_uid ON runs (iteration, uid);
-- numeric outputs (kind 'o') and parameters ('p'), and labels, by run and by value: filters and sorts on them
-- read these indexes, not every run's summary
CREATE TABLE IF NOT EXISTS run_numbers (
    uid TEXT NOT NULL,
    iteration INTEGER NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (uid, iteration, kind, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS run_numbers_by_value ON run_numbers (kind, key, value);
CREATE TABLE IF NOT EXISTS run_labels (
    uid TEXT NOT NULL,
    iteration INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    PRIMARY KEY (uid, iteration, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS run_labels_by_value ON run_labels (key, value);
-- no AUTOINCREMENT: a rowid past the largest keeps chunks in order, without a sqlite_sequence write per chunk
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_uid ON logs (uid);
"""
DB_FILE = "runs.sqlite3"
#: ``PRAGMA user_version`` of a store made or migrated by this version (``_migrate``)
SCHEMA_VERSION = 1
_READ_RECORD = "SELECT record FROM runs WHERE uid = ? AND iteration = ?"
#: a run stored again (running, then final) is updated where it is: INSERT OR REPLACE deleted the row
#: and inserted a new one, with every index entry of both (about 15% of a run's final store)
_UPSERT_RUN = (
    "INSERT INTO runs (uid, iteration, project, name, state, start_time, last_update, labels, summary, record)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uid, iteration) DO UPDATE SET project = excluded.project,"
    " name = excluded.name, state = excluded.state, start_time = excluded.start_time,"
    " last_update = excluded.last_update, labels = excluded.labels, summary = excluded.summary,"
    " record = excluded.record")
#: tries to open a store that other openers hold locked (about 30 s in all, with backoff)
_OPEN_ATTEMPTS = 40


_LOG_TAIL = ("SELECT data, total FROM (SELECT id, data, SUM(length(data)) OVER (ORDER BY id DESC) AS upto,"
             " SUM(length(data)) OVER () AS total FROM logs WHERE uid = ?) AS chunks"
             " WHERE upto - length(data) < ? ORDER BY id")

class SQLiteRunDB(RunDB):
    """Runs in a local directory; ``url`` is the directory (or ``file://`` + directory)."""

    def __init__(self, url: str):
        super().__init__(url)
        self.dirpath = os.path.abspath(os.path.expanduser(url[len("file://"):] if url.startswith("file://") else url))
        self._local = threading.local()

    @property
    def _db(self) -> sqlite3.Connection:
        # one connection per thread: sqlite3 connections must not cross threads
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _connect(self) -> sqlite3.Connection:
        # Switching a new store to WAL takes an exclusive lock for which SQLite does not wait: when
        # several processes or threads open a new store at once, the losers back off and try again.
        delay = 0.01
        for attempt in range(_OPEN_ATTEMPTS):
            try:
                return self._open()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or attempt == _OPEN_ATTEMPTS - 1:
                    raise StoreError(f"cannot open run store {self.dirpath}: {exc}") from None
            except (OSError, sqlite3.Error) as exc:
                raise StoreError(f"cannot open run store {self.dirpath}: {exc}") from None
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")

    def _open(self) -> sqlite3.Connection:
        os.makedirs(self.dirpath, exist_ok=True)
        conn = sqlite3.connect(os.path.join(self.dirpath, DB_FILE), timeout=60, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 60000")
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")  # readers never wait for writers
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(_SCHEMA)
            if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                _migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _execute(self, sql: str, args=(), many: bool = False) -> sqlite3.Cursor:
        try:
            return self._db.executemany(sql, args) if many else self._db.execute(sql, args)
        except sqlite3.Error as exc:
            raise StoreError(f"run store {self.dirpath}: {exc}") from None

    def check(self) -> None:
        self._execute("SELECT 1 FROM runs LIMIT 1")

    def store_run_data(self, data: dict) -> None:
        rows = self.rows(data)  # a bad record fails before the transaction opens
        with self._transaction():
            self._write(*rows)

    def store_run_data_and_log(self, data: dict, log: bytes) -> None:
        rows = self.rows(data)
        with self._transaction():
            self._write(*rows)
            self._replace_log(data["metadata"]["uid"], log)

    @staticmethod
    def rows(record: dict) -> tuple[tuple, list, list]:
        """The rows of ``record`` (validated, its times in UTC): in ``runs``, ``run_numbers`` and ``run_labels``."""
        run, record = checked_record(record)
        meta, status, summary = run.metadata, run.status, run.summary()
        key = (meta.uid, meta.iteration)
        numbers, labels = indexed_values(summary)
        return ((*key, meta.project, meta.name, status.state, status.start_time, status.last_update,
                 json.dumps(meta.labels), json.dumps(summary), json.dumps(record)),
                [(*key, *number) for number in numbers], [(*key, *label) for label in labels])

    def _write(self, run: tuple, numbers: list, labels: list) -> None:
        self._execute(_UPSERT_RUN, run)
        for table, rows in (("run_numbers", numbers), ("run_labels", labels)):
            self._execute(f"DELETE FROM {table} WHERE uid = ? AND iteration = ?", run[:2])
            if rows:
                self._execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows, many=True)

    def read_run_data(self, uid: str, iteration: int = 0) -> dict:
        return record_of_row(self._execute(_READ_RECORD, (uid, iteration)).fetchone(), uid, iteration)

    def list_summaries(self, name=None, project=None, labels: Mapping | None = None, state=None, since=None,
                       until=None, sort="start_time", desc=True, limit=None, offset=0, iterations=False) -> list[dict]:
        check_sort(sort)
        return self.search_runs(None, sort, desc, limit, offset, name=name, project=project, labels=labels,
                                state=state, since=since, until=until, iterations=iterations)[0]

    #: a condition at most this many runs pass is read through its index, then sorted (``search._few_runs``)
    FEW = 2000

    def few(self, select: str, args: list) -> bool:
        """Whether ``select`` (over an index table) gives at most ``FEW`` rows: it stops reading past that."""
        return self._execute(f"SELECT COUNT(*) FROM ({select} LIMIT {self.FEW + 1})", args).fetchone()[0] <= self.FEW

    def run_data_of(self, project=None):
        where, args = self.where(project=project, iterations=True)
        for row in self._execute(f"SELECT record FROM runs{where} ORDER BY start_time DESC, uid DESC", args):
            yield json.loads(row[0])

    def count_runs(self, name=None, project=None, labels: Mapping | None = None, state=None, since=None, until=None,
                   iterations=False, **_ignored) -> int:
        from .search import count

        return count(self, *self.where(name, project, labels, state, since, until, iterations))

    def search_runs(self, filter=None, sort="start_time", desc=True, limit=None, offset=0, total_exact=False,
                    **filters):
        from .filters import SQLITE
        from .search import search_in_sql

        return search_in_sql(self, SQLITE, filter, sort, desc, limit, offset, filters, total_exact)

    @staticmethod
    def where(name=None, project=None, labels=None, state=None, since=None, until=None, iterations=False):
        from .filters import SQLITE

        return SQLITE.listing_where(name, project, labels, state, since, until, iterations)

    @contextmanager
    def run_lock(self, uid: str, iteration: int = 0):
        """Hold the store for a read-modify-write (a PATCH) against every other process, to its end."""
        with self._transaction():
            yield

    def query(self, sql: str, args) -> list:
        return self._execute(sql, args).fetchall()

    def del_run(self, uid: str) -> None:
        with self._transaction():
            deleted = self._execute("DELETE FROM runs WHERE uid = ?", (uid,)).rowcount
            for table in ("logs", "run_numbers", "run_labels"):
                self._execute(f"DELETE FROM {table} WHERE uid = ?", (uid,))
        if not deleted:
            raise run_not_found(uid)

    def store_log(self, uid: str, data: bytes, append: bool = True) -> None:
        if append:
            if data:
                stored = self._execute("SELECT COALESCE(SUM(length(data)), 0) FROM logs WHERE uid = ?",
                                       (uid,)).fetchone()[0]
                data = capped_log(data, stored)
            if data:
                self._execute("INSERT INTO logs (uid, data) VALUES (?, ?)", (uid, sqlite3.Binary(data)))
            return
        with self._transaction():
            self._replace_log(uid, data)

    def _replace_log(self, uid: str, data: bytes) -> None:
        self._execute("DELETE FROM logs WHERE uid = ?", (uid,))
        data = capped_log(data)
        if data:
            self._execute("INSERT INTO logs (uid, data) VALUES (?, ?)", (uid, sqlite3.Binary(data)))

    def read_log_tail(self, uid: str, size: int) -> tuple[bytes, int]:
        # only the last chunks that hold the tail are read (a window over the chunks' sizes, newest first)
        return self.tail_of_chunks(uid, self._execute(_LOG_TAIL, (uid, size)).fetchall(), size)

    def read_log(self, uid: str) -> bytes:
        chunks = [bytes(row[0]) for row in self._execute("SELECT data FROM logs WHERE uid = ? ORDER BY id", (uid,))]
        if not chunks and self._execute("SELECT 1 FROM runs WHERE uid = ? LIMIT 1", (uid,)).fetchone() is None:
            raise run_not_found(uid)
        return b"".join(chunks)

    @contextmanager
    def _transaction(self):
        if self._db.in_transaction:  # within run_lock's: one transaction, its end commits
            yield
            return
        self._execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._execute("ROLLBACK")
            raise
        self._execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a store made by an earlier version to ``SCHEMA_VERSION``, once (the first opener to get the lock):
    index the numbers and labels of the runs it holds, and keep their times as UTC text (a time that is not
    one, written by hand or by an older version, becomes unknown: empty)."""
    from ..model import known_time

    conn.create_function("mlrun_utc", 1, known_time, deterministic=True)
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            for kind in ("outputs", "parameters"):
                conn.execute("INSERT OR REPLACE INTO run_numbers SELECT r.uid, r.iteration, ?, j.key, j.value"
                             " FROM runs r, json_each(r.summary, ?) j WHERE j.type IN ('integer', 'real')",
                             (kind[0], f"$.{kind}"))
            conn.execute("INSERT OR REPLACE INTO run_labels SELECT r.uid, r.iteration, j.key,"
                         " CASE WHEN j.type = 'text' THEN j.value END FROM runs r, json_each(r.labels) j")
            conn.execute("UPDATE runs SET start_time = mlrun_utc(start_time), last_update = mlrun_utc(last_update)"
                         " WHERE start_time <> mlrun_utc(start_time) OR last_update <> mlrun_utc(last_update)")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
