"""Runs kept in S3 pass the same run-store tests as the local store, against a moto server."""
import uuid

import pytest
from rundb_contract import RunDBContract, make_record

from mlrun.rundb import get_run_db
from mlrun.rundb.s3db import S3RunDB


@pytest.fixture(scope="module")
def runs_bucket(moto_server):
    return moto_server.make_bucket()


class TestS3RunDB(RunDBContract):
    @pytest.fixture
    def db(self, s3_env, runs_bucket):
        return S3RunDB(f"s3://{runs_bucket}/{uuid.uuid4().hex}/runs")


def test_dbpath_selects_the_s3_store(s3_env, runs_bucket, monkeypatch):
    monkeypatch.setenv("MLRUN_DBPATH", f"s3://{runs_bucket}/env-store")
    db = get_run_db()
    assert isinstance(db, S3RunDB) and db.prefix == "env-store"


def test_layout_is_one_object_per_record_summary_and_log_chunk(s3_env, runs_bucket):
    db = S3RunDB(f"s3://{runs_bucket}/layout")
    db.store_run(make_record("u1"))
    db.store_run(make_record("u1", iteration=1))
    db.store_log("u1", b"a")
    keys = sorted(o["Key"] for o in s3_env.client().list_objects_v2(Bucket=runs_bucket, Prefix="layout/")["Contents"])
    assert keys[:4] == ["layout/logs/u1/" + keys[0].rsplit("/", 1)[1], "layout/runs/u1/0.json",
                        "layout/runs/u1/1.json", "layout/summaries/u1/0.json"]
    assert keys[4:] == ["layout/summaries/u1/1.json"]
    db.del_run("u1")
    assert "Contents" not in s3_env.client().list_objects_v2(Bucket=runs_bucket, Prefix="layout/")


def test_uid_with_a_slash_is_refused(s3_env, runs_bucket):
    with pytest.raises(ValueError, match="uid"):
        S3RunDB(f"s3://{runs_bucket}/x").store_run(make_record("a/b"))
