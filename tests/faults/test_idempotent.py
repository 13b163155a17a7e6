"""A write reported failed that was in fact stored, retried: the same record, neither an error nor a duplicate
(PostgreSQL and the run server: ``test_postgres``, ``test_server``)."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from mlrun.errors import StoreError
from mlrun.run import new_run


def finished_run():
    run = new_run(name="twice", params={"p": 1})
    run.start()
    run.status.outputs = {"accuracy": 0.9}
    run.complete()
    return run


def test_on_s3_a_retried_write_whose_answer_was_lost_is_the_same_record(moto_server, proxy_to, monkeypatch):
    from mlrun.rundb.s3db import S3RunDB

    proxy = proxy_to(urlsplit(moto_server.endpoint_url).port)
    for key, value in {**moto_server.env, "S3_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
                       "AWS_MAX_ATTEMPTS": "1", "MLRUN_S3_READ_TIMEOUT": "1"}.items():
        monkeypatch.setenv(key, value)
    db = S3RunDB(f"s3://{moto_server.make_bucket()}/runs")
    run = finished_run()
    proxy.drop_answers()
    with pytest.raises(StoreError, match="cannot reach S3"):
        db.store_run_and_log(run, b"the log\n")
    proxy.heal()
    db.store_run_and_log(run, b"the log\n")
    assert [r["uid"] for r in db.list_runs(iter=True)] == [run.uid]
    assert db.read_run(run.uid).to_dict() == run.to_dict() and db.read_log(run.uid) == b"the log\n"


def test_on_a_directory_store_the_same_write_twice_is_one_record(tmp_path):
    from mlrun.rundb.sqlite import SQLiteRunDB

    db = SQLiteRunDB(str(tmp_path / "db"))
    run = finished_run()
    for _ in range(2):
        db.store_run_and_log(run, b"the log\n")
    assert [r["uid"] for r in db.list_runs(iter=True)] == [run.uid]
    assert db.read_run(run.uid).to_dict() == run.to_dict() and db.read_log(run.uid) == b"the log\n"
