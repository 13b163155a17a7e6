"""``HTTPRunDB``: the shared store contract against a real server, retries, timeouts, tokens, and the
CLI and local runs storing their runs on a server (``MLRUN_DBPATH=http://...``)."""
from __future__ import annotations

import contextlib
import json
import shutil
import socket
from http.server import BaseHTTPRequestHandler

import pytest
import requests
from helpers import SEED_EXAMPLE, LoopbackHTTPServer, free_port, mlrun_cli
from rundb_contract import RunDBContract, make_record
from server_process import TOKEN

from mlrun.errors import NotFoundError, StoreError
from mlrun.rundb import get_run_db, httpdb
from mlrun.rundb.httpdb import HTTPRunDB
from mlrun.rundb.lists import ArtifactList
from mlrun.secrets import MASK


def empty(db: HTTPRunDB) -> HTTPRunDB:
    for run in db.list_runs(iterations=True):
        with contextlib.suppress(NotFoundError):  # its parent went first, taking the iterations along
            db.del_run(run["uid"])
    return db


class TestHTTPRunDB(RunDBContract):
    @pytest.fixture
    def db(self, server):
        db = empty(HTTPRunDB(server.url))
        yield db
        db.close()


def test_registered_for_http_urls(server):
    assert isinstance(get_run_db(server.url), HTTPRunDB)
    assert isinstance(get_run_db("https://runs.example.com"), HTTPRunDB)


def test_listing_without_limit_pages_through_everything(server, monkeypatch):
    db = empty(HTTPRunDB(server.url))
    for i in range(7):
        db.store_run(make_record(f"u{i}", start=f"2024-01-0{i + 1}T00:00:00+00:00"))
    monkeypatch.setattr(httpdb, "PAGE_SIZE", 3)
    assert [r["uid"] for r in db.list_runs()] == [f"u{i}" for i in range(6, -1, -1)]
    assert [r["uid"] for r in db.list_runs(limit=4, offset=2)] == ["u4", "u3", "u2", "u1"]
    assert db.count_runs() == 7 and db.count_runs(labels={"owner": "tester"}, since="2024-01-05") == 3


def test_update_run_merges_on_the_server(server):
    db = empty(HTTPRunDB(server.url))
    db.store_run(make_record("m1", state="running"))
    db.update_run("m1", {"status": {"state": "completed", "outputs": {"accuracy": 0.9}}})
    record = db.read_run_data("m1")
    assert record["status"]["state"] == "completed" and record["status"]["outputs"] == {"accuracy": 0.9}


def test_token_from_the_environment(token_server, monkeypatch):
    monkeypatch.setenv("MLRUN_TOKEN", TOKEN)
    db = HTTPRunDB(token_server.url)
    db.store_run(make_record("t1"))
    assert db.read_run_data("t1")["metadata"]["uid"] == "t1"
    assert TOKEN not in repr(db)

    monkeypatch.setenv("MLRUN_TOKEN", "wrong-token")
    with pytest.raises(StoreError, match=r"refused the request \(HTTP 401\).*MLRUN_TOKEN") as failure:
        HTTPRunDB(token_server.url).read_run_data("t1")
    assert "wrong-token" not in str(failure.value)


def test_credentials_in_the_url_are_refused_without_echoing_them():
    with pytest.raises(ValueError, match="must not carry credentials: set MLRUN_TOKEN") as failure:
        HTTPRunDB("http://user:hunter2@127.0.0.1:8080")
    assert "hunter2" not in str(failure.value)


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 to the first ``failures`` requests, then a record; counts what it saw."""

    def _answer(self):
        self.server.seen.append(self.command)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if len(self.server.seen) <= self.server.failures:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps(make_record("f1").to_dict()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def flaky():
    server = LoopbackHTTPServer(_Flaky)
    server.seen, server.failures = [], 2
    yield server
    server.close()


def test_retries_with_backoff_then_succeeds(flaky):
    db = HTTPRunDB(f"http://127.0.0.1:{flaky.server_port}")
    assert db.read_run_data("f1")["metadata"]["uid"] == "f1"
    assert flaky.seen == ["GET", "GET", "GET"]


def test_retries_are_bounded(flaky):
    flaky.failures = 100
    db = HTTPRunDB(f"http://127.0.0.1:{flaky.server_port}", retries=2)
    with pytest.raises(StoreError, match="HTTP 503"):
        db.read_run_data("f1")
    assert flaky.seen == ["GET"] * 3


def test_log_appends_are_not_repeated(flaky):
    db = HTTPRunDB(f"http://127.0.0.1:{flaky.server_port}")
    with pytest.raises(StoreError, match="HTTP 503"):
        db.store_log("f1", b"once\n")  # a repeated append would duplicate lines
    assert flaky.seen == ["POST"]


def test_a_silent_server_times_out():
    listener = socket.create_server(("127.0.0.1", 0))
    try:  # accepts connections (the kernel does) but never answers
        db = HTTPRunDB(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=(2, 0.3), retries=1)
        with pytest.raises(StoreError, match="did not answer: timed out"):  # instead of waiting forever
            db.read_run_data("x")
    finally:
        listener.close()


def test_nobody_listening_is_one_line():
    db = HTTPRunDB(f"http://127.0.0.1:{free_port()}", retries=1)
    with pytest.raises(StoreError, match=r"^run server http://127.0.0.1:\d+ did not answer: connection refused$"):
        db.list_runs()


def test_cli_and_local_runs_store_on_the_server(server, tmp_path):
    """The seed's example, run by the CLI with MLRUN_DBPATH=http://...: the child commits over HTTP."""
    shutil.copy(SEED_EXAMPLE, tmp_path)
    (tmp_path / "secrets.txt").write_text("ACCESS_KEY=super-secret-value-42\n")
    (tmp_path / "infile.txt").write_text("hello from infile\n")
    env = {"MLRUN_DBPATH": server.url}
    done = mlrun_cli("run", "-p", "p1=5", "-s", "file=secrets.txt", "-i", "infile.txt=infile.txt",
                     "--name", "seed-over-http", "-q", "example1.py", cwd=str(tmp_path), env=env)
    assert done.returncode == 0, done.stderr

    listed = mlrun_cli("get", "runs", "--name", "seed-over-http", "-o", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    (run,) = json.loads(listed.stdout)
    assert run["state"] == "completed" and run["outputs"]["accuracy"] == 10
    record = requests.get(f"{server.url}/api/runs/{run['uid']}", timeout=10).json()
    assert record["status"]["metrics"]["loss"]["yvalues"] == [2, 4, 6]
    assert record["status"]["input_objects"][0]["key"] == "infile.txt"
    logs = mlrun_cli("logs", run["uid"], env=env)
    assert "hello from infile" in logs.stdout

    # the secret reached the code, yet no record, log or page shows it
    page = requests.get(f"{server.url}/runs/{run['uid']}", timeout=10).text
    api_record = requests.get(f"{server.url}/api/runs/{run['uid']}", timeout=10).text
    for text in (page, api_record, logs.stdout, listed.stdout):
        assert "super-secret-value-42" not in text
    assert f"accesskey = {MASK}" in logs.stdout  # the code did read it


def test_cli_errors_against_a_server_are_one_line(server):
    missing = mlrun_cli("get", "run", "ghost", env={"MLRUN_DBPATH": server.url})
    assert missing.returncode == 1 and missing.stderr.strip() == "Error: run ghost not found"
    down = mlrun_cli("get", "runs", "--db", f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 1 and "did not answer" in down.stderr and "Traceback" not in down.stderr
    assert len(down.stderr.strip().splitlines()) == 1


def test_server_cli_refuses_bad_settings(server, tmp_path):
    itself = mlrun_cli("server", "--port", "0", env={"MLRUN_DBPATH": server.url})
    assert itself.returncode == 2 and "is a run server itself" in itself.stderr
    port = server.url.rsplit(":", 1)[1]
    busy = mlrun_cli("server", "--port", port, "--store", str(tmp_path / "store"))
    assert busy.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in busy.stderr
    assert "Traceback" not in busy.stderr + itself.stderr


def test_the_artifact_listing_route_pages_refuses_unknown_parameters_and_asks_for_the_token(server, token_server):
    db = empty(HTTPRunDB(server.url))
    for i in range(3):
        record = make_record(f"r{i}", start=f"2024-01-0{i + 1}T00:00:00+00:00")
        record.status.output_artifacts = [{"key": "model.pkl", "target_path": f"/art/{i}/model.pkl"}]
        db.store_run(record)
    page = requests.get(f"{server.url}/api/artifacts", params={"limit": 2, "offset": 1}, timeout=10).json()
    assert [a["uid"] for a in page["artifacts"]] == ["r1", "r0"] and page["total"] == 3
    assert page["next_offset"] is None
    assert [a["uid"] for a in db.list_artifacts(name="model.pkl")] == ["r2", "r1", "r0"]
    bad = requests.get(f"{server.url}/api/artifacts", params={"colour": "red"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["field"] == "colour" and "unknown query parameter" in bad.text
    assert requests.get(f"{token_server.url}/api/artifacts", timeout=10).status_code == 401
    with pytest.raises(StoreError, match="MLRUN_TOKEN"):
        HTTPRunDB(token_server.url, token="wrong").list_artifacts()
    assert isinstance(HTTPRunDB(token_server.url, token=TOKEN).list_artifacts(), ArtifactList)  # with the token


class _Stuck(BaseHTTPRequestHandler):
    """A run server whose listings never move on: every page is the first one, with more to come."""

    def do_GET(self):
        key = "artifacts" if self.path.startswith("/api/artifacts") else "runs"
        body = json.dumps({key: [{"uid": "u1", "key": "k"}], "total": 10**9, "next_offset": 1}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("listing", ["list_runs", "list_artifacts"])
def test_a_server_whose_pages_do_not_move_on_is_refused(listing):
    server = LoopbackHTTPServer(_Stuck)
    try:
        with pytest.raises(StoreError, match=r"pages /(runs|artifacts) wrongly \(next offset 1 after 2 items"):
            getattr(HTTPRunDB(server.url), listing)()
    finally:
        server.close()
