"""The REST API against a real ``mlrun server`` process on 127.0.0.1."""
from __future__ import annotations

import json
import os
import socket

import pytest
import requests
from conftest import session_artifact_root
from sample_runs import png, sample_record
from server_process import TOKEN, running_server


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request, tmp_path_factory):
    """The API tests run against a server over each SQL store: a directory (SQLite) and PostgreSQL."""
    folder = tmp_path_factory.mktemp("server")
    store = str(folder / "store")
    if request.param == "postgres":
        store = request.getfixturevalue("pg_server").new_database()
    with running_server(store, log_dir=str(folder),
                        args=("--artifact-root", session_artifact_root(tmp_path_factory))) as srv:
        yield srv


@pytest.fixture
def api(server):
    """The server's API root, emptied before each test."""
    root = server.url + "/api"
    for run in requests.get(root + "/runs", params={"iterations": "true", "limit": 1000}, timeout=10).json()["runs"]:
        requests.delete(f"{root}/runs/{run['uid']}", timeout=10)
    return root


def store(api: str, record: dict) -> None:
    response = requests.put(f"{api}/runs/{record['metadata']['uid']}", json=record, timeout=10)
    assert response.status_code == 200, response.text


def uids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [run["uid"] for run in response.json()["runs"]]


def test_healthz_and_headers(server):
    response = requests.get(server.url + "/healthz", timeout=5)
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    page = requests.get(server.url + "/", timeout=5)
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'self' covers scripts
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_store_read_patch_delete(api):
    record = sample_record("r1")
    response = requests.post(api + "/runs", json=record, timeout=10)
    assert response.status_code == 201 and response.json() == {"uid": "r1", "iteration": 0}
    assert response.headers["Location"].endswith("/api/runs/r1")
    assert requests.get(api + "/runs/r1", timeout=10).json() == record

    patch = {"status": {"state": "error", "error": "boom"}, "metadata": {"labels": {"team": None, "stage": "dev"}}}
    response = requests.patch(api + "/runs/r1", json=patch, timeout=10)
    assert response.status_code == 200, response.text
    updated = requests.get(api + "/runs/r1", timeout=10).json()
    assert updated["status"]["state"] == "error" and updated["status"]["error"] == "boom"
    assert updated["metadata"]["labels"] == {"owner": "ana", "stage": "dev"}
    assert updated["status"]["metrics"] == record["status"]["metrics"]  # untouched by the patch

    yaml_text = requests.get(api + "/runs/r1", params={"format": "yaml"}, timeout=10)
    assert yaml_text.headers["Content-Type"].startswith("application/yaml")
    assert "uid: r1" in yaml_text.text and "attachment" in yaml_text.headers["Content-Disposition"]

    assert requests.delete(api + "/runs/r1", timeout=10).json() == {"deleted": "r1"}
    gone = requests.get(api + "/runs/r1", timeout=10)
    assert gone.status_code == 404 and gone.json() == {"error": "run r1 not found"}


def test_put_creates_and_replaces_iterations(api):
    store(api, sample_record("r2", state="running"))
    child = sample_record("r2", lr=0.5)
    child["metadata"]["iteration"] = 3
    store(api, child)
    assert requests.get(api + "/runs/r2", params={"iteration": 3}, timeout=10).json()["spec"]["parameters"]["lr"] == 0.5
    assert uids(requests.get(api + "/runs", timeout=10)) == ["r2"]
    assert len(uids(requests.get(api + "/runs", params={"iterations": "true"}, timeout=10))) == 2


def test_list_filters_sort_and_pages(api):
    for i in range(7):
        store(api, sample_record(f"p{i}", name="train" if i % 2 else "eval", state="error" if i == 3 else "completed",
                                 start=f"2024-05-0{i + 1}T08:00:00+00:00", labels={"team": "a" if i < 4 else "b"}))
    runs = api + "/runs"
    assert uids(requests.get(runs, timeout=10)) == ["p6", "p5", "p4", "p3", "p2", "p1", "p0"]
    assert uids(requests.get(runs, params={"name": "train", "desc": "false"}, timeout=10)) == ["p1", "p3", "p5"]
    assert uids(requests.get(runs, params={"state": "error"}, timeout=10)) == ["p3"]
    assert uids(requests.get(runs, params={"label": "team=a"}, timeout=10)) == ["p3", "p2", "p1", "p0"]
    assert uids(requests.get(runs, params={"label": ["team=b", "owner"]}, timeout=10)) == []
    assert uids(requests.get(runs, params={"since": "2024-05-03", "until": "2024-05-04"}, timeout=10)) == ["p3", "p2"]
    assert uids(requests.get(runs, params={"sort": "uid", "limit": 2}, timeout=10)) == ["p6", "p5"]

    seen, offset, pages = [], 0, 0
    while offset is not None:
        page = requests.get(runs, params={"limit": 3, "offset": offset}, timeout=10).json()
        # nothing counted but the page and one more run, until the page reaches the end
        last = page["next_offset"] is None
        assert (page["total"], page["total_exact"]) == ((7, True) if last else (offset + 4, False))
        assert page["limit"] == 3
        exact = requests.get(runs, params={"limit": 3, "offset": offset, "total_exact": "true"}, timeout=10).json()
        assert (exact["total"], exact["total_exact"], exact["runs"]) == (7, True, page["runs"])
        seen += [run["uid"] for run in page["runs"]]
        offset, pages = page["next_offset"], pages + 1
    assert seen == ["p6", "p5", "p4", "p3", "p2", "p1", "p0"] and pages == 3
    counted = requests.get(runs, params={"limit": 0, "label": "team=b"}, timeout=10).json()
    assert counted == {"runs": [], "total": 3, "total_exact": True, "offset": 0, "limit": 0, "next_offset": None}


@pytest.mark.parametrize("params, field", [
    ({"limit": "many"}, "limit"),
    ({"limit": "5000"}, "limit"),
    ({"offset": "-1"}, "offset"),
    ({"sort": "password"}, "sort"),
    ({"desc": "maybe"}, "desc"),
    ({"state": "done"}, "state"),
    ({"since": "last tuesday"}, "since"),
    ({"label": "=x"}, "label"),
    ({"nmae": "train"}, "nmae"),
])
def test_malformed_filters_are_400_naming_the_field(api, params, field):
    response = requests.get(api + "/runs", params=params, timeout=10)
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == field and field in body["error"] and "Traceback" not in response.text


@pytest.mark.parametrize("body, field", [
    (b"{not json", ""),
    (b"- a\n- list\n", ""),
    (json.dumps({"metadata": {"uid": "x"}, "status": {"state": "done"}}).encode(), "status.state"),
    (json.dumps({"metadata": {"uid": "x", "labels": ["a"]}}).encode(), "metadata.labels"),
    (json.dumps({"metadata": {"uid": "x"}, "secrets": {"A": "b"}}).encode(), "secrets"),
    (json.dumps({"metadata": {"name": "no-uid"}}).encode(), "metadata.uid"),
])
def test_malformed_bodies_are_400_naming_the_field(api, body, field):
    response = requests.post(api + "/runs", data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 400, response.text
    assert response.json().get("field", "") == field
    assert "\n" not in response.json()["error"]


def test_uid_and_iteration_mismatches_are_400(api):
    store(api, sample_record("m1"))
    response = requests.put(api + "/runs/other", json=sample_record("m1"), timeout=10)
    assert response.status_code == 400 and response.json()["field"] == "metadata.uid"
    response = requests.patch(api + "/runs/m1", json={"metadata": {"uid": "m2"}}, timeout=10)
    assert response.status_code == 400 and response.json()["field"] == "metadata"
    for iteration in ("first", "-1", "²"):
        response = requests.get(api + "/runs/m1", params={"iteration": iteration}, timeout=10)
        assert response.status_code == 400 and response.json()["field"] == "iteration"


@pytest.mark.parametrize("method, path", [
    ("GET", "/runs/ghost"), ("PATCH", "/runs/ghost"), ("DELETE", "/runs/ghost"), ("GET", "/runs/ghost/log"),
    ("POST", "/runs/ghost/log"), ("GET", "/runs/ghost/artifacts/model.pkl"), ("GET", "/no/such/route"),
])
def test_unknown_uid_is_404_json(api, method, path):
    response = requests.request(method, api + path, data=b"{}", timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json" and response.json()["error"]


def test_logs_append_replace_and_tail(api):
    store(api, sample_record("l1"))
    assert requests.get(api + "/runs/l1/log", timeout=10).content == b""
    assert requests.post(api + "/runs/l1/log", data=b"one\n", timeout=10).json() == {"uid": "l1", "appended": 4}
    requests.post(api + "/runs/l1/log", data=b"two\n", timeout=10)
    assert requests.get(api + "/runs/l1/log", timeout=10).content == b"one\ntwo\n"
    assert requests.get(api + "/runs/l1/log", params={"offset": 4}, timeout=10).content == b"two\n"
    requests.put(api + "/runs/l1/log", data=b"new\n", timeout=10)
    assert requests.get(api + "/runs/l1/log", timeout=10).content == b"new\n"


def test_artifact_download_is_streamed_from_its_store(api, tmp_path):
    record = sample_record("a1", artifacts_dir=str(tmp_path))
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    record["status"]["output_artifacts"].append({"key": "model/weights.bin", "target_path": str(big), "size": 1})
    record["status"]["output_artifacts"].append({"key": 'résumé "final".txt', "target_path": str(big)})
    store(api, record)

    response = requests.get(api + "/runs/a1/artifacts/model/weights.bin", stream=True, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(big.stat().st_size)  # the stored file's, not the record's
    assert response.headers["Content-Disposition"] == 'attachment; filename="weights.bin"'
    assert response.headers["Content-Security-Policy"].startswith("sandbox")
    assert b"".join(response.iter_content(65536)) == big.read_bytes()

    odd = requests.get(api + '/runs/a1/artifacts/résumé "final".txt', timeout=10)
    assert odd.headers["Content-Disposition"] == "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.txt"

    image = requests.get(api + "/runs/a1/artifacts/chart.png", params={"inline": "1"}, timeout=10)
    assert image.headers["Content-Type"] == "image/png" and image.headers["Content-Disposition"].startswith("inline")
    assert image.content == png()
    html_like = requests.get(api + "/runs/a1/artifacts/table.csv", params={"inline": "1"}, timeout=10)
    assert html_like.headers["Content-Disposition"].startswith("attachment")  # only images and plain text inline

    assert requests.get(api + "/runs/a1/artifacts/nope.txt", timeout=10).json()["error"] == \
        "run a1 has no artifact 'nope.txt'"
    big.unlink()
    missing = requests.get(api + "/runs/a1/artifacts/model/weights.bin", timeout=10)
    assert missing.status_code == 404 and "file not found" in missing.json()["error"]


def test_survives_clients_disconnecting_mid_request(server, api, tmp_path):
    record = sample_record("d1")
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (8 * 1024 * 1024))
    record["status"]["output_artifacts"] = [{"key": "big.bin", "target_path": str(big)}]
    store(api, record)
    host, port = server.url.rsplit("//", 1)[1].split(":")
    for _ in range(5):
        # a body announced but cut short
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"PUT /api/runs/d2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000\r\n\r\n{\"metadata\": {\"uid\"")
        # a download abandoned after its first bytes
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"GET /api/runs/d1/artifacts/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(1024).startswith(b"HTTP/1.1 200")
        # headers cut short
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"GET /api/runs HTTP/1.1\r\nHost: ")
    assert server.proc.poll() is None
    assert uids(requests.get(api + "/runs", timeout=10)) == ["d1"]  # the cut PUT stored nothing
    full = requests.get(api + "/runs/d1/artifacts/big.bin", timeout=30)
    assert len(full.content) == big.stat().st_size
    assert "Traceback" not in server.log()


def test_token_protects_api_and_ui(token_server):
    url = token_server.url
    record = sample_record("t1")
    refused = requests.put(url + "/api/runs/t1", json=record, timeout=10)
    assert refused.status_code == 401 and refused.json()["field"] == "token"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = requests.get(url + "/api/runs", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401 and TOKEN not in wrong.text
    good = {"Authorization": f"Bearer {TOKEN}"}
    assert requests.put(url + "/api/runs/t1", json=record, headers=good, timeout=10).status_code == 200
    assert requests.get(url + "/healthz", timeout=10).status_code == 200  # probes need no token

    browser = requests.Session()
    page = browser.get(url + "/runs/t1", timeout=10, allow_redirects=False)
    assert page.status_code == 302 and page.headers["Location"].endswith("/login?next=/runs/t1")
    assert browser.post(url + "/login", data={"token": "nope", "next": "/"}, timeout=10).status_code == 401
    login = browser.post(url + "/login", data={"token": TOKEN, "next": "/runs/t1"}, timeout=10,
                         allow_redirects=False)
    assert login.status_code == 302 and login.headers["Location"] == "/runs/t1"
    cookie = browser.cookies.get("mlrun_session")
    assert cookie and TOKEN not in cookie and "HttpOnly" in login.headers["Set-Cookie"]
    assert browser.get(url + "/runs/t1", timeout=10).status_code == 200
    assert browser.get(url + "/api/runs/t1", timeout=10).status_code == 200  # downloads from the UI
    # the cookie opens reads only: another site cannot make a logged-in browser change runs
    assert browser.delete(url + "/api/runs/t1", timeout=10).status_code == 401
    offsite = browser.post(url + "/login", data={"token": TOKEN, "next": "//evil.example/"}, timeout=10,
                           allow_redirects=False)
    assert offsite.headers["Location"] == "/"
    browser.post(url + "/logout", timeout=10)
    assert browser.get(url + "/", timeout=10, allow_redirects=False).status_code == 302
