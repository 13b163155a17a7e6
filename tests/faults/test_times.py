"""Times compared as the instants they name, on every store (SQLite, S3, PostgreSQL, a run server).

Replays what was seen when times were compared as text: ``"not a date"`` listed above the year 2999,
``+14:00``, ``-12:00`` and space-separated times misordered, ``del_runs(days_ago=10)`` deleting a run 9.75
days old and one whose start was not known while keeping one 10.25 days old, and ``start_time >= ...``
missing a 30-minute-old run.  Times are checked on the way in, kept as UTC text, compared as instants.
"""
from __future__ import annotations

import os
import sys
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from rundb_contract import make_record

from mlrun.errors import InvalidInputError, NotFoundError
from mlrun.rundb.httpdb import HTTPRunDB
from mlrun.rundb.postgres import PostgresRunDB
from mlrun.rundb.s3db import S3RunDB
from mlrun.rundb.sqlite import SQLiteRunDB

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "server"))
from server_process import running_server  # noqa: E402

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def at(age: timedelta, offset_hours: int = 0, sep: str = "T") -> str:
    """The time ``age`` ago, written with a UTC offset of ``offset_hours``."""
    return (NOW - age).astimezone(timezone(timedelta(hours=offset_hours))).isoformat(sep)


def utc(age: timedelta) -> str:
    return (NOW - age).isoformat()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(str(tmp_path_factory.mktemp("times") / "store")) as srv:
        yield srv


@pytest.fixture(params=["sqlite", "s3", "postgres", "server"])
def db(request, tmp_path):
    if request.param == "sqlite":
        store = SQLiteRunDB(str(tmp_path / "store"))
    elif request.param == "s3":
        store = S3RunDB(f"s3://{request.getfixturevalue('s3_env').make_bucket()}/runs")
    elif request.param == "postgres":
        store = PostgresRunDB(request.getfixturevalue("pg_server").new_database())
    else:
        store = HTTPRunDB(request.getfixturevalue("server").url)
        for run in store.list_runs(iterations=True):  # the module's server: start empty
            store.del_run(run["uid"])
    yield store
    store.close()


def store(db, uid: str, start, state: str = "completed") -> None:
    data = make_record(uid, state=state).to_dict()
    data["status"]["start_time"] = data["status"]["last_update"] = start
    db.store_run_data(data)


@pytest.mark.parametrize("start, problem", [
    ("not a date", "status.start_time must be an ISO-8601 time with a zone (e.g. 2024-01-31T12:00:00+00:00) or epoch "
                   "seconds, got 'not a date'"),
    ("2024-06-01T12:00:00", "status.start_time must be an ISO-8601 time with a zone"),  # no zone: which instant?
    (True, "status.start_time must be an ISO-8601 time with a zone or epoch seconds, got bool"),
    (10**20, "status.start_time is out of range as epoch seconds"),
    ("9999-12-31T23:59:59-01:00", "status.start_time is out of range once converted to UTC"),
])
def test_a_time_that_is_not_one_is_refused_in_one_line(db, start, problem):
    uid = f"bad{uuid.uuid4().hex[:8]}"
    with pytest.raises(InvalidInputError) as err:
        store(db, uid, start)
    assert problem in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(NotFoundError):
        db.read_run(uid)  # nothing half-stored


def test_runs_are_listed_filtered_and_kept_as_instants(db):
    half_hour = at(timedelta(minutes=30), 14)  # written far east: as text it sorts after everything from today
    two_hours = at(timedelta(hours=2), -12)  # far west: as text, a day earlier
    runs = {"y2999": "2999-01-01T00:00:00+00:00", "plus14": half_hour, "minus12": two_hours,
            "spaced": "2024-06-01 12:00:00+02:00", "epoch": 1_700_000_000, "unknown": ""}
    for uid, start in runs.items():
        store(db, uid, start, state="created" if uid == "unknown" else "completed")

    assert [r["uid"] for r in db.list_runs()] == ["y2999", "plus14", "minus12", "spaced", "epoch", "unknown"]
    assert db.read_run("plus14").status.start_time == utc(timedelta(minutes=30))  # kept in UTC
    assert db.read_run("spaced").status.start_time == "2024-06-01T10:00:00+00:00"
    assert db.read_run("epoch").status.start_time == "2023-11-14T22:13:20+00:00"  # MLRun 1.x's epoch seconds
    assert db.read_run("unknown").status.start_time == ""

    def found(expr: str) -> list[str]:
        return [r["uid"] for r in db.search_runs(expr)[0]]

    hour_ago = utc(timedelta(hours=1))
    assert found(f"start_time >= {hour_ago}") == ["y2999", "plus14"]
    assert found(f"start_time >= '{at(timedelta(hours=1), 5)}'") == ["y2999", "plus14"]  # any offset: one instant
    assert found("start_time < 2025-01-01") == ["spaced", "epoch"]  # an unknown start is before nothing
    assert found("not start_time < 2025-01-01") == ["y2999", "plus14", "minus12", "unknown"]
    assert found(f"start_time != {utc(timedelta(minutes=30))}") == ["y2999", "minus12", "spaced", "epoch"]
    assert [r["uid"] for r in db.list_runs(since=at(timedelta(hours=3), -12), until=at(timedelta(minutes=1), 14))] \
        == ["plus14", "minus12"]
    assert [r["uid"] for r in db.list_runs(until="2025-01-01T00:00:00+00:00")] == ["spaced", "epoch"]


def test_del_runs_days_ago_takes_runs_by_instant_and_never_one_not_known(db):
    store(db, "days9.75", at(timedelta(days=9.75), -12))  # as text "older" than the cut-off
    store(db, "days10.25", at(timedelta(days=10.25), 14))  # as text "newer" than the cut-off
    store(db, "days20", utc(timedelta(days=20)))
    store(db, "unknown", "", state="created")

    assert db.del_runs(days_ago=10) == 2
    assert sorted(r["uid"] for r in db.list_runs()) == ["days9.75", "unknown"]
