"""Team servers: several ``mlrun server`` workers over one PostgreSQL store, searched by results."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from helpers import mlrun_cli
from rundb_contract import make_record
from server_process import running_server

#: a client process: stores N runs through the server, each acknowledged uid appended to a file
CLIENT = r"""
import hashlib, json, sys
sys.path.insert(0, sys.argv[4])
from rundb_contract import make_record
from mlrun.rundb import get_run_db
url, client, count, acks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[5]
db = get_run_db(url)
with open(acks, "a") as out:
    for i in range(count):
        uid = f"c{client:02d}r{i:03d}"
        payload = hashlib.sha256(uid.encode()).hexdigest() * 40
        record = make_record(uid, labels={"client": str(client)}, outputs={"accuracy": i / count, "payload": payload})
        for attempt in range(5):
            try:
                db.store_run(record)
                break
            except Exception as exc:  # a worker killed under this request: not acknowledged, try again
                err = exc
        else:
            raise err
        out.write(uid + "\n")
        out.flush()
"""
TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _clients(url: str, clients: int, runs: int, tmp_path) -> tuple[list[subprocess.Popen], str]:
    acks = str(tmp_path / "acks.txt")
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    procs = [subprocess.Popen([sys.executable, str(script), url, str(c), str(runs), TESTS_DIR, acks],
                              stderr=subprocess.PIPE, text=True) for c in range(clients)]
    return procs, acks


def _check_stored(db, uids) -> None:
    import hashlib

    for uid in uids:
        record = db.read_run_data(uid)
        assert record["status"]["outputs"]["payload"] == hashlib.sha256(uid.encode()).hexdigest() * 40  # not torn
        assert record["metadata"]["labels"]["client"] == str(int(uid[1:3]))


def _workers(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as fp:
        return [int(p) for p in fp.read().split()]


def test_32_clients_through_4_workers_lose_nothing(pg_server, tmp_path):
    from mlrun.rundb.postgres import PostgresRunDB

    store = pg_server.new_database()
    with running_server(store, log_dir=str(tmp_path), args=("--workers", "4")) as server:
        assert len(_workers(server.proc.pid)) == 4
        procs, acks = _clients(server.url, 32, 50, tmp_path)
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
        total = requests.get(server.url + "/api/runs", params={"limit": 0}, timeout=10).json()["total"]
    assert pg_server.password not in server.log()  # the start line shows the store URL masked
    assert "4 workers" in server.log()
    with open(acks) as fp:
        acknowledged = fp.read().split()
    assert len(acknowledged) == len(set(acknowledged)) == 1600 and total == 1600
    db = PostgresRunDB(store)
    assert db.count_runs() == 1600
    _check_stored(db, acknowledged)


def test_a_worker_killed_mid_request_loses_nothing_acknowledged(pg_server, tmp_path):
    from mlrun.rundb.postgres import PostgresRunDB

    store = pg_server.new_database()
    with running_server(store, log_dir=str(tmp_path), args=("--workers", "4")) as server:
        procs, acks = _clients(server.url, 8, 100, tmp_path)
        deadline = time.monotonic() + 120
        while not os.path.exists(acks) or len(Path(acks).read_text().split()) < 100:  # writes are under way
            assert time.monotonic() < deadline, "no client got going"
            time.sleep(0.01)
        victim = _workers(server.proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
        deadline = time.monotonic() + 30
        while len(_workers(server.proc.pid)) < 4:  # the killed worker is replaced
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.05)
        assert victim not in _workers(server.proc.pid)
    with open(acks) as fp:
        acknowledged = fp.read().split()
    assert len(acknowledged) == 800
    _check_stored(PostgresRunDB(store), acknowledged)


@pytest.fixture(scope="module")
def search_server(pg_server, tmp_path_factory):
    store = pg_server.new_database()
    from mlrun.rundb.postgres import PostgresRunDB

    db = PostgresRunDB(store)
    for i in range(10):
        db.store_run(make_record(f"r{i}", labels={"team": "vision" if i % 2 else "nlp"}, outputs={"accuracy": i / 10},
                                 start=f"2024-01-{i + 1:02d}T00:00:00+00:00"))
    with running_server(store, log_dir=str(tmp_path_factory.mktemp("search")), args=("--workers", "2")) as server:
        yield server, store


def test_api_filter_and_sort_by_output(search_server):
    server, _ = search_server
    answer = requests.get(server.url + "/api/runs", params={"filter": "outputs.accuracy > 0.5 and labels.team = vision",
                                                            "sort": "outputs.accuracy", "desc": "false"}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert [r["uid"] for r in answer.json()["runs"]] == ["r7", "r9"] and answer.json()["total"] == 2
    page = requests.get(server.url + "/api/runs", params={"sort": "outputs.accuracy", "limit": 3}, timeout=10).json()
    assert [r["uid"] for r in page["runs"]] == ["r9", "r8", "r7"] and page["next_offset"] == 3
    assert (page["total"], page["total_exact"]) == (4, False)  # this page and more: nothing counted
    page = requests.get(server.url + "/api/runs", params={"sort": "outputs.accuracy", "limit": 3, "total_exact": "1"},
                        timeout=10).json()
    assert [r["uid"] for r in page["runs"]] == ["r9", "r8", "r7"] and (page["total"], page["total_exact"]) == (10, True)


@pytest.mark.parametrize("params, message", [
    ({"filter": "outputs.accuracy >> 1"}, "position 19"),
    ({"filter": "colour = red"}, "unknown field 'colour' at position 1"),
    ({"sort": "outputs."}, "sort must be one of"),
])
def test_api_bad_filter_is_400_naming_the_token(search_server, params, message):
    server, _ = search_server
    answer = requests.get(server.url + "/api/runs", params=params, timeout=10)
    assert answer.status_code == 400 and message in answer.json()["error"], answer.text
    assert answer.json()["field"] == ("filter" if "filter" in params else "sort")


def test_cli_get_runs_filter_on_every_store(search_server, tmp_path):
    server, store = search_server
    expr = "outputs.accuracy > 0.5 and labels.team = vision"
    for url in (store, server.url):  # pushed down to PostgreSQL, and through the server
        result = mlrun_cli("get", "runs", "--filter", expr, "--sort", "outputs.accuracy", "-o", "json",
                           env={"MLRUN_DBPATH": url})
        assert result.returncode == 0, result.stderr
        assert [r["uid"] for r in json.loads(result.stdout)] == ["r9", "r7"]
    bad = mlrun_cli("get", "runs", "--filter", "outputs.accuracy >", env={"MLRUN_DBPATH": store})
    assert bad.returncode == 2 and "expected a value after '>' at the end (position 19)" in bad.stderr
    assert "Traceback" not in bad.stderr and "pg-test-password" not in bad.stderr


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_concurrent_patches_through_several_workers_lose_no_update(pg_server, tmp_path, kind):
    from concurrent.futures import ThreadPoolExecutor

    store = pg_server.new_database() if kind == "postgres" else str(tmp_path / "store")
    with running_server(store, log_dir=str(tmp_path), args=("--workers", "3")) as server:
        api = server.url + "/api/runs"
        assert requests.put(api + "/p1", json=make_record("p1", labels={}).to_dict(), timeout=10).status_code == 200

        def patch(i: int) -> int:
            return requests.patch(api + "/p1", json={"metadata": {"labels": {f"k{i}": "v"}}}, timeout=30).status_code

        with ThreadPoolExecutor(12) as pool:
            assert set(pool.map(patch, range(60))) == {200}
        labels = requests.get(api + "/p1", timeout=10).json()["metadata"]["labels"]
    # every worker's read-modify-write held the run
    assert sorted(labels) == sorted(["owner", *(f"k{i}" for i in range(60))])
