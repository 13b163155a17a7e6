"""The run server against hostile and odd input, on real ``mlrun server`` processes on 127.0.0.1.

Artifacts are served only from the artifact roots, whatever path a record claims; uids, iterations,
query numbers and times are validated (400 naming the culprit); bodies and records over the limits are
refused (413, one line); login redirects stay on the server; a public bind needs a token; records that
older versions may have stored (odd text, odd shapes, huge numbers) never break a page or a listing.
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))

from helpers import free_port  # noqa: E402
from sample_runs import sample_record  # noqa: E402
from server_process import TOKEN, running_server  # noqa: E402

from mlrun.policy import is_loopback  # noqa: E402
from mlrun.rundb import get_run_db  # noqa: E402

CANARY = "canary-5d1e0c7a-not-to-be-served"
BAD_UID = "..%2F..%2Fx"  # sent encoded: a client would resolve a bare ../../x before sending it


def put(api: str, record: dict) -> requests.Response:
    return requests.put(f"{api}/runs/{record['metadata']['uid']}", json=record, timeout=10)


def one_line_error(response: requests.Response) -> dict:
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:200]
    assert "\n" not in response.text.strip()
    body = response.json()
    assert body["error"] and "\n" not in body["error"]
    return body


# -- artifact roots --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rooted(tmp_path_factory):
    """A server with one --artifact-root; a secret file outside it, and a symlink inside it to that file."""
    base = tmp_path_factory.mktemp("rooted")
    root, outside = base / "artifacts", base / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text(CANARY + "\n")
    (root / "link.txt").symlink_to(outside / "secret.txt")
    (root / "report.txt").write_text("served from the root\n")
    with running_server(str(base / "store"), args=("--artifact-root", str(root))) as srv:
        srv.root, srv.outside = root, outside
        yield srv


def test_artifacts_outside_the_roots_are_refused_and_never_shown(rooted):
    api = rooted.url + "/api"
    record = sample_record("art1")
    record["status"]["output_artifacts"] = [
        {"key": "shadow.txt", "target_path": "/etc/shadow", "format": "txt"},
        {"key": "outside.txt", "target_path": str(rooted.outside / "secret.txt"), "format": "txt"},
        {"key": "link.txt", "target_path": str(rooted.root / "link.txt"), "format": "txt"},
        {"key": "climb.txt", "target_path": str(rooted.root / ".." / "outside" / "secret.txt"), "format": "txt"},
        {"key": "image.png", "target_path": str(rooted.outside / "secret.txt"), "format": "png"},
        {"key": "report.txt", "target_path": str(rooted.root / "report.txt"), "format": "txt"},
    ]
    assert put(api, record).status_code == 200

    for artifact in record["status"]["output_artifacts"][:-1]:
        for params in ({}, {"inline": "1"}):
            response = requests.get(f"{api}/runs/art1/artifacts/{artifact['key']}", params=params, timeout=10)
            assert response.status_code == 403
            assert one_line_error(response)["error"] == (
                f"artifact {artifact['key']} of run art1 is stored at {artifact['target_path']}, "
                "outside the server's artifact roots (--artifact-root)")
    served = requests.get(f"{api}/runs/art1/artifacts/report.txt", timeout=10)
    assert served.status_code == 200 and served.content == b"served from the root\n"

    page = requests.get(rooted.url + "/runs/art1", timeout=10)
    assert page.status_code == 200
    assert page.text.count("not served: stored outside the server&#39;s artifact roots") == 5
    assert "served from the root" in page.text  # the allowed artifact's preview
    assert "inline=1" not in page.text  # no image of a refused artifact
    assert put(api, sample_record("art2")).status_code == 200
    answers = [page, requests.get(f"{api}/runs/art1", timeout=10),
               requests.get(f"{api}/runs/art1", params={"format": "yaml"}, timeout=10),
               requests.get(f"{api}/runs", timeout=10), requests.get(rooted.url + "/", timeout=10),
               requests.get(rooted.url + "/compare", params={"uid": ["art1", "art2"]}, timeout=10)]
    for answer in answers:
        assert answer.status_code == 200 and CANARY not in answer.text


def test_default_roots_are_the_store_folder_and_the_environment(tmp_path):
    store, extra, other = tmp_path / "store", tmp_path / "extra", tmp_path / "other"
    for folder in (store, extra, other):
        folder.mkdir()
        (folder / "a.txt").write_text(f"in {folder.name}\n")
    with running_server(str(store), env={"MLRUN_ARTIFACT_ROOTS": f" {extra} ,"}) as srv:
        record = sample_record("def1")
        record["status"]["output_artifacts"] = [{"key": f"{folder.name}.txt", "target_path": str(folder / "a.txt")}
                                                for folder in (store, extra, other)]
        assert put(srv.url + "/api", record).status_code == 200
        statuses = {folder.name: requests.get(f"{srv.url}/api/runs/def1/artifacts/{folder.name}.txt", timeout=10)
                    for folder in (store, extra, other)}
    assert statuses["store"].status_code == 200 and statuses["store"].text == "in store\n"
    assert statuses["extra"].status_code == 200 and statuses["extra"].text == "in extra\n"
    assert statuses["other"].status_code == 403


# -- validation at the API ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    with running_server(str(tmp_path_factory.mktemp("plain") / "store")) as srv:
        yield srv


def test_climbing_uids_are_400_on_every_route(plain):
    api = plain.url + "/api"
    posted = requests.post(api + "/runs", json=sample_record("../../x"), timeout=10)
    assert posted.status_code == 400 and one_line_error(posted)["field"] == "metadata.uid"
    mismatched = requests.put(api + "/runs/fine", json=sample_record("../../x"), timeout=10)
    assert mismatched.status_code == 400 and one_line_error(mismatched)["field"] == "metadata.uid"
    for method, path in [("PUT", ""), ("GET", ""), ("DELETE", ""), ("PATCH", ""), ("GET", "/log"),
                         ("POST", "/log"), ("GET", "/artifacts/model.pkl")]:
        response = requests.request(method, f"{api}/runs/{BAD_UID}{path}", json=sample_record("x"), timeout=10)
        assert response.status_code == 400, (method, path, response.text)
        assert one_line_error(response)["field"] == "uid"
    for method, path in [("GET", "/runs/%2E%2E"), ("GET", "/runs/-rf"), ("DELETE", "/runs/.hidden")]:
        assert requests.request(method, api + path, timeout=10).status_code == 400
    page = requests.get(f"{plain.url}/runs/{BAD_UID}", timeout=10)
    assert page.status_code == 400 and "text/html" in page.headers["Content-Type"]
    compare = requests.get(plain.url + "/compare", params={"uid": ["../../x", "y"]}, timeout=10)
    assert compare.status_code == 400
    assert requests.get(api + "/runs", timeout=10).json()["total"] == 0  # nothing was stored


def test_iterations_and_query_numbers_are_range_checked(plain):
    api = plain.url + "/api"
    assert put(api, sample_record("n1")).status_code == 200
    huge = "1" * 30
    for path, params, field in [
        ("/runs/n1", {"iteration": huge}, "iteration"), ("/runs/n1/log", {"offset": huge}, "offset"),
        ("/runs", {"limit": huge}, "limit"), ("/runs", {"offset": huge}, "offset"),
        ("/runs", {"limit": "1001"}, "limit"), ("/runs", {"since": "9999-12-31T23:59:59-23:59"}, "since"),
        ("/runs", {"until": "9999-12-31T23:59:59-23:59"}, "until"),
        ("/runs", {"since": "0001-01-01T00:00:00+23:59"}, "since"),
    ]:
        response = requests.get(api + path, params=params, timeout=10)
        assert response.status_code == 400, (path, params, response.text)
        body = one_line_error(response)
        assert body["field"] == field and len(body["error"]) < 300
    record = sample_record("n2")
    record["metadata"]["iteration"] = int(huge)
    stored = put(api, record)
    assert stored.status_code == 400 and one_line_error(stored)["field"] == "metadata.iteration"
    page = requests.get(plain.url + "/runs/n1", params={"iteration": huge}, timeout=10)
    assert page.status_code == 400
    assert requests.get(plain.url + "/compare", params={"uid": ["n1", f"n1@{huge}"]}, timeout=10).status_code == 400
    counted = requests.get(api + "/runs", params={"limit": 0}, timeout=10).json()
    assert counted["total"] >= 1 and counted["next_offset"] is None


def test_patch_is_validated_against_the_record_model(plain):
    api = plain.url + "/api"
    assert put(api, sample_record("p1")).status_code == 200
    assert put(api, sample_record("p2")).status_code == 200
    wrong_type = requests.patch(api + "/runs/p1", json={"status": {"outputs": [1]}}, timeout=10)
    assert wrong_type.status_code == 400 and one_line_error(wrong_type)["field"] == "status.outputs"
    patched = requests.patch(api + "/runs/p1", json={"status": {"metrics": {"loss": 5}}}, timeout=10)
    # whatever the answer, the pages stay up
    assert requests.get(plain.url + "/runs/p1", timeout=10).status_code == 200
    assert requests.get(plain.url + "/compare", params={"uid": ["p1", "p2"]}, timeout=10).status_code == 200
    assert patched.status_code == 400, patched.text  # needs the record model's check of metric entries
    assert one_line_error(patched)["field"].startswith("status.metrics")


# -- login redirects ---------------------------------------------------------------------------
@pytest.mark.parametrize("target", [
    "/\t/evil.com", "/\n/evil.com", "/\r\n/evil.com", "/\\evil.com", "\\\\evil.com", "//evil.com", "///evil.com",
    "https://evil.com", "http:evil.com", "evil.com", " //evil.com", "/\x00/evil.com", "/\x7f/evil.com",
    "/\x85/evil.com", "\t//evil.com", "javascript:alert(1)", "",
])
def test_login_redirects_only_to_local_paths(locked, target):
    response = requests.post(locked.url + "/login", data={"token": TOKEN, "next": target}, allow_redirects=False,
                             timeout=10)
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_login_keeps_a_local_target(locked):
    response = requests.post(locked.url + "/login", data={"token": TOKEN, "next": "/runs/abc?iteration=2"},
                             allow_redirects=False, timeout=10)
    assert response.status_code == 302 and response.headers["Location"] == "/runs/abc?iteration=2"


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    with running_server(str(tmp_path_factory.mktemp("locked") / "store"), token=TOKEN) as srv:
        yield srv


# -- size limits -------------------------------------------------------------------------------
def test_bodies_and_records_over_the_limits_are_413(tmp_path):
    with running_server(str(tmp_path / "store"), args=("--max-record-size", "20000"),
                        env={"MLRUN_SERVER_MAX_BODY": "100000"}) as srv:
        api = srv.url + "/api"
        small = sample_record("s1", epochs=10)
        assert requests.post(api + "/runs", json=small, timeout=10).status_code == 201

        big = sample_record("s2", epochs=1000)  # about 45 kB: under the body limit, over the record limit
        assert 20000 < len(json.dumps(big)) < 100000
        refused = requests.post(api + "/runs", json=big, timeout=10)
        assert refused.status_code == 413
        assert "over the server's limit of 20,000 (--max-record-size)" in one_line_error(refused)["error"]
        grown = requests.patch(api + "/runs/s1", json={"status": big["status"]}, timeout=10)
        assert grown.status_code == 413

        expected = "request body is larger than the server's limit of 100,000 bytes (--max-body-size)"
        for body in (b"x" * 100001, iter([b"x" * 60000, b"x" * 60000])):  # declared, then chunked
            response = requests.post(api + "/runs", data=body, timeout=10)
            assert response.status_code == 413
            assert one_line_error(response)["error"] == expected
        assert requests.get(api + "/runs", timeout=10).json()["total"] == 1


# -- public binds need a token -----------------------------------------------------------------
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "example.invalid"])
def test_public_bind_without_token_refuses_to_start(tmp_path, host):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MLRUN_TOKEN", "MLRUN_SERVER_INSECURE")}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "mlrun", "server", "--host", host, "--port", str(port),
                             "--store", str(tmp_path / "store")], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: refusing to listen on {host} without a token: set $MLRUN_TOKEN or --token, or pass --insecure"]
    assert result.stdout == "" and time.monotonic() - started < 30
    assert not (tmp_path / "store").exists()  # refused before anything was opened, let alone bound
    with socket.socket() as probe:  # the port was never taken
        probe.bind(("127.0.0.1", port))


@pytest.mark.parametrize("how", ["--insecure", "MLRUN_SERVER_INSECURE=1", "token"])
def test_public_bind_starts_with_a_token_or_insecure(tmp_path, how):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MLRUN_TOKEN", "MLRUN_SERVER_INSECURE")}
    args = [sys.executable, "-m", "mlrun", "server", "--host", "0.0.0.0", "--port", str(port),
            "--store", str(tmp_path / "store")]
    if how == "--insecure":
        args.append("--insecure")
    elif how == "token":
        env["MLRUN_TOKEN"] = TOKEN
    else:
        env["MLRUN_SERVER_INSECURE"] = "1"
    from helpers import stop_process, wait_for_http

    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", proc)
    finally:
        stop_process(proc)
    output = proc.stdout.read().decode()
    assert "refusing" not in output and ("without a token (--insecure)" in output) == (how != "token")


def test_loopback_addresses():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "", "10.0.0.1", "localhost.evil.com", "127.0.0.1.nip.io"))


# -- odd records from older stores ---------------------------------------------------------------
def write_straight(store: str, record: dict, summary: dict | None = None) -> None:
    """Store ``record`` as an older version could have: straight into the SQLite file, no validation."""
    uid = record["metadata"]["uid"]
    get_run_db(store).store_run_data(sample_record(uid))  # a row with the store's schema, then overwritten
    with sqlite3.connect(os.path.join(store, "runs.sqlite3")) as db:
        db.execute("UPDATE runs SET record = ?, summary = ? WHERE uid = ?",
                   (json.dumps(record), json.dumps(summary if summary is not None else {"uid": uid}), uid))
    get_run_db(store).close()


def test_odd_records_never_break_pages_or_listings(tmp_path):
    store = str(tmp_path / "store")
    surrogate = "caf\udcff-\udc80"
    odd_text = sample_record("odd-text")
    odd_text["metadata"]["name"] = surrogate
    odd_text["metadata"]["labels"] = {surrogate: surrogate}
    odd_text["spec"]["parameters"] = {surrogate: surrogate}
    odd_text["status"]["outputs"] = {"note": surrogate}
    odd_text["status"]["error"] = surrogate
    write_straight(store, odd_text, {"uid": "odd-text", "name": surrogate, "labels": {surrogate: surrogate},
                                     "outputs": {"x": surrogate}, "state": "completed", "iteration": 0})

    odd_shapes = sample_record("odd-shapes")
    odd_shapes["status"]["metrics"]["loss"] = 5
    odd_shapes["status"]["metrics"]["acc"] = {"xvalues": 5, "yvalues": "x"}
    odd_shapes["status"]["metrics"]["big"] = {"xvalues": [1, 2, 10**400, "inf"], "yvalues": [1e308, 10**400, 3, 4]}
    odd_shapes["status"]["output_artifacts"] = [{"key": "a", "target_path": 5, "format": "txt", "sha256": 5,
                                                 "size": 10**400, "sources": [5]}, 5, {"key": 7}]
    odd_shapes["status"]["iterations"] = [[1, 2], {"a": 1}, "x"]
    odd_shapes["status"]["input_objects"] = [5, {"key": 5}]
    odd_shapes["status"]["outputs"] = {"huge": 10**400, "inf": float("inf"), "nan": float("nan")}
    odd_shapes["status"]["start_time"] = "0001-01-01T00:00:00+23:59"
    odd_shapes["status"]["last_update"] = "9999-12-31T23:59:59-23:59"
    write_straight(store, odd_shapes, {"uid": "odd-shapes", "labels": ["x"], "outputs": "x", "start_time": 5,
                                       "iteration": 10**40, "state": {"a": 1}})

    refused_by_model = sample_record("odd-model")
    refused_by_model["status"]["state"] = "exploded"
    refused_by_model["status"]["iterations"] = "not a list"
    refused_by_model["metadata"]["labels"] = ["x"]
    refused_by_model["spec"]["input_objects"] = [5]
    refused_by_model["extra"] = {"section": True}
    write_straight(store, refused_by_model, [])

    table = sample_record("odd-table")
    table["status"]["iterations"] = [["iteration", "x"], [1], ["two", 3, 4], [10**40, 1], [[1], {"a": 1}]]
    write_straight(store, table, {})

    uids = ["odd-text", "odd-shapes", "odd-model", "odd-table"]
    with running_server(store) as srv:
        pages = [srv.url + "/", srv.url + "/?iterations=true&limit=1000", srv.url + "/?sort=name"]
        pages += [f"{srv.url}/runs/{uid}" for uid in uids]
        pages += [srv.url + "/compare?" + "&".join(f"uid={uid}" for uid in uids)]
        for url in pages:
            response = requests.get(url, timeout=30)
            assert response.status_code == 200, (url, response.text[:500])
        assert "caf\\udcff" in requests.get(srv.url + "/runs/odd-text", timeout=10).text  # escaped, shown
        shapes = requests.get(srv.url + "/runs/odd-shapes", timeout=10).text
        # each bad metric is left out with a note naming it (the record model refuses it; so do the views)
        assert "not shown" in shapes and "loss" in shapes.split("not shown", 1)[1] and "acc" in shapes
        model_page = requests.get(srv.url + "/runs/odd-model", timeout=10).text
        assert "not shown" in model_page

        listing = requests.get(srv.url + "/api/runs", timeout=10)
        assert listing.status_code == 200 and {run["uid"] for run in listing.json()["runs"] if
                                               isinstance(run, dict) and "uid" in run} >= {"odd-text", "odd-shapes"}
        for uid in uids:
            as_json = requests.get(f"{srv.url}/api/runs/{uid}", timeout=10)
            assert as_json.status_code == 200 and as_json.json()["metadata"]["uid"] == uid
            as_yaml = requests.get(f"{srv.url}/api/runs/{uid}", params={"format": "yaml"}, timeout=10)
            assert as_yaml.status_code == 200 and f"uid: {uid}" in as_yaml.text
        assert "caf\\udcff" in requests.get(srv.url + "/api/runs/odd-text", params={"format": "yaml"}, timeout=10).text
        assert "status.state" in requests.get(srv.url + "/api/runs/odd-model", params={"format": "yaml"},
                                              timeout=10).text  # the note on what was left out
        assert srv.proc.poll() is None
    assert "Traceback" not in srv.log()
