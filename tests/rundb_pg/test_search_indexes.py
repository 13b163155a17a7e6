"""Searches read indexes on both SQL stores: what the planner chooses (EXPLAIN) over 20,000 runs, answers
that agree with evaluating every summary in Python, and a SQLite store of an earlier version indexed on open."""
from __future__ import annotations

import json
import sqlite3

import pytest

from mlrun.rundb.postgres import PostgresRunDB
from mlrun.rundb.search import search_in_python
from mlrun.rundb.sqlite import SCHEMA_VERSION, SQLiteRunDB

RUNS = 20_000
#: each a page of 100: (filter, sort, what the plan reads on SQLite, on PostgreSQL).  On SQLite a condition few
#: runs pass (at most SQLiteRunDB.FEW: 2,000) picks them by its index, then sorts them; a condition many pass is
#: tested on the runs walked newest first (a probe of the index by run), until the page is full.
SEARCHES = [
    ("outputs.accuracy > 0.5", "start_time", "SEARCH run_numbers USING PRIMARY KEY", "run_numbers"),
    ("outputs.accuracy > 0.95", "start_time", "USING COVERING INDEX run_numbers_by_value", "run_numbers"),
    ("outputs.accuracy > 0.95 and labels.team = b", "start_time", "USING COVERING INDEX run_numbers_by_value",
     "run_numbers"),
    # a third of the runs: PostgreSQL walks the newest first and tests each one's labels, a page needs 300
    ("labels.team = b", "start_time", "SEARCH run_labels USING PRIMARY KEY", "runs_by_start_time"),
    ("labels.team = rare", "start_time", "USING COVERING INDEX run_labels_by_value", "runs_by_labels"),
    (None, "outputs.accuracy", "run_numbers_by_value", "run_numbers_by_value"),
    ("parameters.lr < 0.5", "outputs.accuracy", "run_numbers_by_value", "run_numbers_by_value"),
]
# rows made in SQL (a store's own writes would take minutes): what store_run_data writes for such runs
SQLITE_FILL = f"""
WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < {RUNS}),
r AS (SELECT printf('r%06d', n) AS uid, strftime('%Y-%m-%dT%H:%M:%S+00:00', 1704067200 + n * 60, 'unixepoch') AS t,
      ((n * 7919) % 10000) / 10000.0 AS acc, (n % 10) / 10.0 AS lr,
      CASE WHEN n % 5000 = 0 THEN 'rare' ELSE char(97 + n % 3) END AS team FROM i)
INSERT INTO runs SELECT uid, 0, '', 'train', 'completed', t, t, json_object('team', team),
    json_object('uid', uid, 'name', 'train', 'project', '', 'iteration', 0, 'labels', json_object('team', team),
                'state', 'completed', 'start_time', t, 'last_update', t, 'outputs', json_object('accuracy', acc),
                'parameters', json_object('lr', lr), 'error', ''), '{{}}' FROM r;
INSERT INTO run_numbers SELECT uid, 0, 'o', 'accuracy', json_extract(summary, '$.outputs.accuracy') FROM runs;
INSERT INTO run_numbers SELECT uid, 0, 'p', 'lr', json_extract(summary, '$.parameters.lr') FROM runs;
INSERT INTO run_labels SELECT uid, 0, 'team', json_extract(labels, '$.team') FROM runs;
"""
POSTGRES_FILL = f"""
INSERT INTO runs (uid, iteration, project, name, state, start_time, last_update, labels, summary)
SELECT uid, 0, '', 'train', 'completed', t, t, jsonb_build_object('team', team),
    jsonb_build_object('uid', uid, 'name', 'train', 'project', '', 'iteration', 0, 'labels',
                       jsonb_build_object('team', team), 'state', 'completed', 'start_time', t, 'last_update', t,
                       'outputs', jsonb_build_object('accuracy', acc), 'parameters', jsonb_build_object('lr', lr),
                       'error', '')
FROM (SELECT 'r' || lpad(n::text, 6, '0') AS uid,
             to_char(to_timestamp(1704067200 + n * 60) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"') AS t,
             ((n * 7919) % 10000) / 10000.0 AS acc, (n % 10) / 10.0 AS lr,
             CASE WHEN n % 5000 = 0 THEN 'rare' ELSE chr(97 + n % 3) END AS team
      FROM generate_series(1, {RUNS}) AS n) AS r;
INSERT INTO run_records SELECT uid, 0, '{{}}' FROM runs;
INSERT INTO run_numbers SELECT uid, 0, 'o', 'accuracy', (summary->'outputs'->>'accuracy')::float8 FROM runs;
INSERT INTO run_numbers SELECT uid, 0, 'p', 'lr', (summary->'parameters'->>'lr')::float8 FROM runs;
ANALYZE;
"""


@pytest.fixture(scope="module")
def stores(pg_server, tmp_path_factory):
    sqlite = SQLiteRunDB(str(tmp_path_factory.mktemp("plans") / "store"))
    sqlite.query("SELECT 1", [])  # made
    sqlite._db.executescript(SQLITE_FILL)
    postgres = PostgresRunDB(pg_server.new_database())
    postgres.query("SELECT 1", [])
    postgres._conn.execute(POSTGRES_FILL)
    return {"sqlite": sqlite, "postgres": postgres}


def plans(db, search: tuple) -> list[str]:
    """The plan of each query a search makes (a page of 100), as text."""
    expr, sort = search[:2]
    queries, query = [], db.query

    def recording(sql, args):
        queries.append((sql, args))
        return query(sql, args)

    db.query = recording
    try:
        db.search_runs(expr, sort=sort, limit=100)
    finally:
        del db.query
    explain = "EXPLAIN QUERY PLAN " if isinstance(db, SQLiteRunDB) else "EXPLAIN "
    return ["\n".join(str(row[-1]) for row in query(explain + sql, args)) for sql, args in queries]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
@pytest.mark.parametrize("search", SEARCHES, ids=lambda s: f"{s[0]} by {s[1]}")
def test_the_planner_reads_the_indexes(stores, kind, search):
    db = stores[kind]
    plan = plans(db, search)[0]  # a page reads one query (and counts nothing)
    assert search[2 if kind == "sqlite" else 3] in plan, plan
    if kind == "sqlite":  # never a read of every run; a sort only of the few runs an index picked
        assert "SCAN runs" not in plan, plan
        assert "TEMP B-TREE FOR ORDER BY" not in plan or "_by_value" in plan, plan
    else:
        assert "Seq Scan on runs" not in plan, plan


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
@pytest.mark.parametrize("offset", [0, 19_950])
def test_indexed_answers_agree_with_every_summary_read(stores, kind, offset):
    db = stores[kind]
    for expr, sort, *_ in SEARCHES:
        for desc in (True, False):
            runs, total = db.search_runs(expr, sort=sort, desc=desc, limit=100, offset=offset, total_exact=True)
            expected, count = search_in_python(db, expr, sort, desc, 100, offset, {})
            assert [r["uid"] for r in runs] == [r["uid"] for r in expected] and total == count, (expr, sort, desc)


OLD_SCHEMA = """
CREATE TABLE runs (uid TEXT NOT NULL, iteration INTEGER NOT NULL DEFAULT 0, project TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT '', start_time TEXT NOT NULL DEFAULT '',
    last_update TEXT NOT NULL DEFAULT '', labels TEXT NOT NULL DEFAULT '{}', summary TEXT NOT NULL,
    record TEXT NOT NULL, PRIMARY KEY (uid, iteration));
CREATE TABLE logs (id INTEGER PRIMARY KEY, uid TEXT NOT NULL, data BLOB NOT NULL);
"""


def test_a_sqlite_store_of_an_earlier_version_is_indexed_on_open(tmp_path):
    from rundb_contract import make_record

    path = tmp_path / "store"
    path.mkdir()
    conn = sqlite3.connect(path / "runs.sqlite3")
    conn.executescript(OLD_SCHEMA)
    for uid, start, accuracy, team in (("late", "2024-06-01T10:00:00+14:00", 0.9, "a"),  # 2024-05-31T20:00Z
                                       ("early", "2024-05-31T22:00:00-00:00", 0.2, "b"),
                                       ("space", "2024-05-31 21:00:00+00:00", 0.7, "a"),
                                       ("junk", "not a date", 0.8, "a")):
        record = make_record(uid, start=start, outputs={"accuracy": accuracy}, labels={"team": team})
        summary = record.summary()
        conn.execute("INSERT INTO runs VALUES (?, 0, '', 'train', 'completed', ?, ?, ?, ?, ?)",
                     (uid, start, start, json.dumps(summary["labels"]), json.dumps(summary),
                      json.dumps(record.to_dict())))
    conn.commit()
    conn.close()

    db = SQLiteRunDB(str(path))
    assert [r["uid"] for r in db.list_runs()] == ["early", "space", "late", "junk"]  # as instants; junk: not known
    assert db.query("PRAGMA user_version", []) == [(SCHEMA_VERSION,)]
    assert db.query("SELECT start_time FROM runs WHERE uid = 'late'", []) == [("2024-05-31T20:00:00+00:00",)]
    assert [r["uid"] for r in db.search_runs("outputs.accuracy > 0.5 and labels.team = a")[0]] == [
        "space", "late", "junk"]
    assert [r["uid"] for r in db.search_runs(None, sort="outputs.accuracy")[0]] == ["late", "junk", "space", "early"]
    assert db.del_runs(days_ago=1) == 3 and [r["uid"] for r in db.list_runs()] == ["junk"]  # never one not known


def test_a_postgresql_store_of_an_earlier_version_keeps_its_times_in_utc_once_opened(pg_server):
    import psycopg
    from rundb_contract import make_record

    from mlrun.rundb.postgres import MIGRATIONS, _schema_version

    url = pg_server.new_database()
    with psycopg.connect(url, autocommit=True) as conn:  # the schema and rows as the earlier version left them
        conn.execute(MIGRATIONS[0])
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1)")
        for uid, start in (("late", "2024-06-01T10:00:00+14:00"), ("early", "2024-05-31T22:00:00.5-00:00"),
                           ("space", "2024-05-31 21:00:00+00:00"), ("junk", "not a date"),
                           ("naive", "2024-05-31T23:00:00")):
            summary = make_record(uid, start=start).summary()
            conn.execute("INSERT INTO runs (uid, iteration, start_time, last_update, summary) VALUES (%s, 0, %s, %s,"
                         " %s::jsonb)", (uid, start, start, json.dumps(summary)))
    db = PostgresRunDB(url)
    assert [r["uid"] for r in db.list_runs()] == ["early", "space", "late", "naive", "junk"]  # unknown: last
    assert db.query("SELECT uid, start_time FROM runs ORDER BY uid", []) == [
        ("early", "2024-05-31T22:00:00.500000+00:00"), ("junk", ""), ("late", "2024-05-31T20:00:00+00:00"),
        ("naive", ""), ("space", "2024-05-31T21:00:00+00:00")]
    assert _schema_version(db._conn) == len(MIGRATIONS)
