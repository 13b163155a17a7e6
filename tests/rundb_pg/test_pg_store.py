"""The PostgreSQL run store, against a real PostgreSQL cluster the session starts (``tests/pgserver.py``)."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
from rundb_contract import RunDBContract, make_record

from mlrun.errors import StoreError
from mlrun.rundb import get_run_db
from mlrun.rundb.postgres import MIGRATIONS, PostgresRunDB


class TestPostgresRunDB(RunDBContract):
    @pytest.fixture
    def db(self, pg_url):
        db = PostgresRunDB(pg_url)
        yield db
        db.close()


def test_url_picks_the_store(pg_url):
    assert isinstance(get_run_db(pg_url), PostgresRunDB)
    assert isinstance(get_run_db(pg_url.replace("postgresql://", "postgres://")), PostgresRunDB)


def test_schema_is_versioned_and_made_once_by_concurrent_openers(pg_url):
    code = ("import sys; from mlrun.rundb.postgres import PostgresRunDB;"
            "PostgresRunDB(sys.argv[1]).list_runs(); print('ok')")
    procs = [subprocess.Popen([sys.executable, "-c", code, pg_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(6)]
    results = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 and out.strip() == "ok" for p, (out, _) in zip(procs, results, strict=True)), results
    db = PostgresRunDB(pg_url)
    versions = db.query("SELECT version FROM schema_version ORDER BY version", [])
    assert versions == [(i + 1,) for i in range(len(MIGRATIONS))]


def test_password_never_in_errors(pg_server, monkeypatch):
    wrong = pg_server.url().replace(pg_server.password, "wrong-secret-pw")
    with pytest.raises(StoreError) as err:
        PostgresRunDB(wrong).list_runs()
    assert "wrong-secret-pw" not in str(err.value) and "***" in str(err.value)
    assert "password authentication failed" in str(err.value)
    assert "wrong-secret-pw" not in repr(PostgresRunDB(wrong))
    # a bad URL (libpq echoes what it could not parse)
    with pytest.raises(StoreError) as err:
        PostgresRunDB("postgresql://mlrun:s3cr3t-bad@127.0.0.1:notaport/x").list_runs()
    assert "s3cr3t-bad" not in str(err.value)


def test_password_from_environment(pg_server, monkeypatch):
    url = pg_server.new_database()
    without = url.replace(f":{pg_server.password}@", "@")
    assert pg_server.password not in without
    monkeypatch.setenv("PGPASSWORD", pg_server.password)  # libpq's own
    PostgresRunDB(without).store_run(make_record("u1"))
    monkeypatch.delenv("PGPASSWORD")
    monkeypatch.setenv("MLRUN_PG_PASSWORD", pg_server.password)
    assert PostgresRunDB(without).read_run("u1").uid == "u1"


def test_huge_metric_history_stays_out_of_listings(pg_url):
    db = PostgresRunDB(pg_url)
    for i in range(200):
        db.store_run(make_record(f"u{i:03d}", start=f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}+00:00"))
    big = make_record("big", start="2024-02-01T00:00:00+00:00")
    points = 1_000_000
    big.status.metrics = {"loss": {"labels": {}, "xvalues": list(range(points)), "yvalues": [0.5] * points}}
    db.store_run(big)
    started = time.perf_counter()
    for _ in range(5):
        page = db.list_runs(limit=100)
    elapsed = (time.perf_counter() - started) / 5
    assert page[0]["uid"] == "big" and "metrics" not in page[0]
    assert elapsed < 0.1, f"a page took {elapsed:.3f}s"
    assert len(db.read_run_data("big")["status"]["metrics"]["loss"]["yvalues"]) == points


def test_numeric_filter_uses_the_index(pg_url):
    db = PostgresRunDB(pg_url)
    db.store_run(make_record("u1", outputs={"accuracy": 0.95}))
    import psycopg

    from mlrun.rundb.filters import POSTGRES, parse, to_sql

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")  # a tiny table: ask which indexes the query can use
        sql, args = to_sql(parse("outputs.accuracy > 0.9"), POSTGRES)
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN SELECT uid FROM runs WHERE {sql}", args))
        assert "run_numbers_by_value" in plan or "run_numbers_pkey" in plan, plan
        sql, args = to_sql(parse("labels.team = vision"), POSTGRES)
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN SELECT uid FROM runs WHERE {sql}", args))
        assert "runs_by_labels" in plan, plan
