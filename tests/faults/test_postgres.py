"""A PostgreSQL run store that is frozen (SIGSTOP), stopped or killed: every call ends by its deadline, a write
whose caller gave up is not applied later, a server says the store is unreachable, and a retried write that was
in fact stored is the same record."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest
import requests
from helpers import mlrun_cli, poll

from mlrun.errors import StoreError
from mlrun.run import new_run
from mlrun.rundb import get_run_db

DEADLINE = 1.5  # $MLRUN_PG_TIMEOUT in these tests
SLACK = 3.0  # what a busy machine may add to a deadline


def record(name: str = "r"):
    run = new_run(name=name)
    run.start()
    return run


def backends(cluster, url: str) -> int:
    """Connections to the test's database other than the one asking."""
    import psycopg

    database = url.rsplit("/", 1)[1]
    with psycopg.connect(cluster.server.url(), autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                            (database,)).fetchone()[0]


@pytest.fixture(autouse=True)
def short_deadline(monkeypatch):
    monkeypatch.setenv("MLRUN_PG_TIMEOUT", str(DEADLINE))


def test_a_frozen_postgresql_is_given_up_at_the_deadline_and_the_write_is_not_applied_later(pg):
    from mlrun.rundb.postgres import PostgresRunDB

    url = pg.new_database()
    db = PostgresRunDB(url)
    db.store_run(record("before"))  # connected, schema made
    late = record("late")
    pg.freeze()
    try:
        started = time.monotonic()
        with pytest.raises(StoreError) as err:
            db.store_run(late)
        took = time.monotonic() - started
        assert DEADLINE - 0.1 <= took < DEADLINE + SLACK
        message = str(err.value)
        assert "\n" not in message and f"no answer within {DEADLINE:g}s" in message and "MLRUN_PG_TIMEOUT" in message
        assert pg.server.password not in message
        started = time.monotonic()  # a new connection is bounded too
        with pytest.raises(StoreError):
            db.read_run(late.uid)
        assert time.monotonic() - started < DEADLINE + SLACK
    finally:
        pg.thaw()
    # the frozen backend, thawed, reads the write it was sent and exits: its transaction rolled back
    poll(lambda: backends(pg, url) == 0, what="the given-up connections to end")
    with pytest.raises(StoreError, match="not found"):
        db.read_run(late.uid)
    db.store_run(late)  # the store works again, on a new connection
    assert db.read_run(late.uid).metadata.name == "late"


def test_through_a_server_a_frozen_store_is_503_and_a_given_up_write_is_never_applied(pg, tmp_path):
    from server.server_process import running_server

    from mlrun.rundb.httpdb import HTTPRunDB
    from mlrun.rundb.postgres import PostgresRunDB

    url = pg.new_database()
    env = {"MLRUN_PG_TIMEOUT": "5", "MLRUN_SERVER_READY_TIMEOUT": "1", "MLRUN_SERVER_CHECK_INTERVAL": "0"}
    with running_server(url, log_dir=str(tmp_path), env=env, args=("--workers", "2")) as server:
        # ready once each worker has its connection (on a loaded machine the first may take more than the 1 s)
        poll(lambda: requests.get(server.url + "/ready", timeout=5).json() == {"status": "ready"}, what="ready")
        client = HTTPRunDB(server.url, deadline=2.0, retries=0)
        late = record("late")
        pg.freeze()
        try:
            started = time.monotonic()
            # the server gives up a little before its client does, and well before its own deadline (5 s): the
            # client hears why (on a machine too slow to answer within that margin, it gives up itself)
            with pytest.raises(StoreError, match=r"run store failed|no (complete )?answer within 2s"):
                client.store_run(late)
            assert time.monotonic() - started < 2 + SLACK
            for path, status in (("/ready", "not ready"), ("/healthz", "store unreachable")):
                started = time.monotonic()
                answer = requests.get(server.url + path, timeout=5)
                assert answer.status_code == 503 and answer.json()["status"] == status
                assert time.monotonic() - started < 1 + SLACK
            time.sleep(0.5)  # let the server's deadline for the given-up write (its client's) pass while frozen
        finally:
            pg.thaw()
        poll(lambda: requests.get(server.url + "/ready", timeout=5).status_code == 200, what="the store back")
        direct = PostgresRunDB(url)
        poll(lambda: backends(pg, url) <= 4, what="the given-up calls to end")  # the server's idle connections
        with pytest.raises(StoreError, match="not found"):
            direct.read_run(late.uid)  # the server's thread was bounded by its client's deadline: rolled back
        client.store_run(late)
        assert direct.read_run(late.uid).metadata.name == "late"


@pytest.mark.parametrize("fault", ["stop", "kill"])
def test_a_stopped_or_killed_postgresql_fails_fast_in_one_line_and_recovers(pg, fault):
    from mlrun.rundb.postgres import PostgresRunDB

    url = pg.new_database()
    db = PostgresRunDB(url)
    db.store_run(record())
    getattr(pg, fault)()
    try:
        started = time.monotonic()
        with pytest.raises(StoreError) as err:
            db.store_run(record("during"))
        assert time.monotonic() - started < DEADLINE + SLACK
        assert "\n" not in str(err.value) and pg.server.password not in str(err.value)
    finally:
        pg.start()
    after = record("after")
    poll(lambda: _stores(db, after), what="the store back")
    assert db.read_run(after.uid).metadata.name == "after"


def _stores(db, run) -> bool:
    try:
        db.store_run(run)
        return True
    except StoreError:
        return False


def test_a_write_reported_failed_that_was_stored_is_the_same_record_when_retried(pg):
    from mlrun.rundb.postgres import PostgresRunDB

    url = pg.new_database()
    db = PostgresRunDB(url)
    db.store_run(record())
    run = record("twice")
    run.status.outputs = {"accuracy": 0.9}
    pg.proxy.drop_answers()  # PostgreSQL commits, its answer is lost
    with pytest.raises(StoreError, match="no answer within"):
        db.store_run(run)
    pg.proxy.heal()
    db.store_run(run)  # the retry of the same uid and iteration
    listed = [r for r in db.list_runs(iter=True) if r["uid"] == run.uid]
    assert len(listed) == 1 and listed[0]["outputs"] == {"accuracy": 0.9}
    assert db.read_run(run.uid).to_dict() == run.to_dict()


def test_the_end_of_a_run_outlives_a_killed_postgresql(pg, tmp_path):
    """The final write fails while PostgreSQL is down: the run's end is kept on this machine and the next
    command delivers it; the store never shows the run running for good."""
    url = pg.new_database()
    gate = tmp_path / "gate"
    script = tmp_path / "job.py"
    script.write_text("import os, time\nprint('ready', flush=True)\n"
                      f"while not os.path.exists({str(gate)!r}):\n    time.sleep(0.02)\nprint('done')\n")
    uid = uuid.uuid4().hex
    env = {**os.environ, "MLRUN_FINAL_WRITE_TIMEOUT": "1", "MLRUN_LOG_FLUSH_INTERVAL": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "mlrun", "run", "--db", url, "--uid", uid, str(script)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "ready"
    pg.kill()
    gate.write_text("")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"the run store could not record the end of run {uid}" in err and "spool" in err
    pg.start()
    result = mlrun_cli("get", "run", uid, "--db", url, "-o", "json")  # the next command delivers it
    assert result.returncode == 0, result.stderr
    db = get_run_db(url)
    assert db.read_run(uid).state == "completed" and b"done" in db.read_log(uid)
    assert not list((tmp_path / "mlrun-home" / "spool").rglob("*.json"))
