"""The run server's second round of boundaries, replayed against real ``mlrun server`` processes on 127.0.0.1.

Bad filters and listing input fail loud (400, one line, on SQLite and PostgreSQL alike), no answer names a
server path, logins back off per client, sessions end at logout, the cookie is ``Secure`` behind TLS.
"""
from __future__ import annotations

import os
import sys
from http.server import BaseHTTPRequestHandler

import pytest
import requests
from helpers import ROOT, LoopbackHTTPServer, mlrun_cli

from mlrun.model import RunRecord
from mlrun.rundb import get_run_db

sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
from sample_runs import sample_record  # noqa: E402
from server_process import TOKEN, running_server  # noqa: E402

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def one_line_400(response: requests.Response, field: str, *secrets: str) -> str:
    assert response.status_code == 400, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["field"] == field and "\n" not in response.text.strip()
    for secret in secrets:
        assert secret not in response.text
    return body["error"]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_server(request, tmp_path):
    """A server over a folder store or a PostgreSQL database, holding one run labelled ``a``."""
    if request.param == "sqlite":
        store = str(tmp_path / "store")
    else:
        store = request.getfixturevalue("pg_server").new_database()
    with running_server(store, token=TOKEN, log_dir=str(tmp_path)) as srv:
        record = sample_record("lab1")
        record["metadata"]["labels"] = {"a": "1"}
        assert requests.put(f"{srv.url}/api/runs/lab1", json=record, headers=AUTH, timeout=10).status_code == 200
        srv.hidden = [str(tmp_path), store.rsplit("@", 1)[-1]]  # the store's folder, or its host and database
        yield srv


def test_bad_listing_input_is_400_with_one_line_on_every_store(store_server):
    api, hidden = store_server.url + "/api/runs", store_server.hidden

    def listing(**params) -> requests.Response:
        return requests.get(api, params=params, headers=AUTH, timeout=30)

    deep = one_line_400(listing(filter="(" * 340 + "name=a" + ")" * 340), "filter", *hidden)
    assert deep.startswith("filter: nested deeper than 32 levels")
    one_line_400(listing(filter="not " * 300 + "name=a"), "filter", *hidden)
    one_line_400(listing(label='a"b'), "label", *hidden)
    one_line_400(listing(filter='labels.a = "x\x00y"'), "filter", *hidden)
    assert "NUL" in requests.get(api + "?name=a%00b", headers=AUTH, timeout=10).json()["error"]
    assert "from 0 to" in one_line_400(listing(offset=str(2**63 - 5)), "offset", *hidden)

    # what stays within the bounds works, on every store: the deepest nesting allowed, the largest offset
    deepest = "not (name = nope or " * 16 + "labels.a = 1" + ")" * 16
    assert [run["uid"] for run in listing(filter=deepest).json()["runs"]] == ["lab1"]
    assert listing(offset=str(2**62)).json()["runs"] == []
    assert listing(filter="outputs.x = " + "1" * 4000 + "x").json()["runs"] == []  # a word, not a number


def test_a_failing_store_answers_without_naming_its_files(tmp_path):
    store = tmp_path / "store"
    with running_server(str(store), token=TOKEN) as srv:
        assert requests.put(f"{srv.url}/api/runs/r1", json=sample_record("r1"), headers=AUTH,
                            timeout=10).status_code == 200
        for path in store.glob("runs.sqlite3*"):  # the store's file broken under the running server
            path.write_bytes(b"not a database " * 4096)
        answers = [requests.get(f"{srv.url}{path}", headers=AUTH, timeout=10)
                   for path in ("/api/runs/r1", "/api/runs", "/api/runs/r1/log")]
        log = srv.log()
    assert [answer.status_code for answer in answers] == [503] * 3
    for answer in answers:
        assert answer.json() == {"error": "the run store failed (the server log has the details)"}
    assert str(store) in log  # the operator learns which store failed, and how


def test_the_cli_refuses_bad_filters_in_one_line(tmp_path):
    for args in (["--filter", "(" * 340 + "name=a" + ")" * 340], ["--filter", "not " * 300 + "name=a"],
                 ["--label", 'a"b'], ["--filter", "outputs.x > 1 and or"]):
        result = mlrun_cli("get", "runs", "--db", str(tmp_path / "store"), *args)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
        assert "Traceback" not in result.stderr + result.stdout


# -- login --------------------------------------------------------------------------------------------
@pytest.fixture
def locked(tmp_path):
    with running_server(str(tmp_path / "store"), token=TOKEN) as srv:
        yield srv


def test_wrong_tokens_back_off_per_client(locked):
    url = locked.url
    answers = [requests.post(url + "/login", data={"token": f"guess{i}"}, timeout=10, allow_redirects=False)
               for i in range(20)]
    codes = [answer.status_code for answer in answers]
    assert codes[:5] == [401] * 5  # a few typing mistakes cost nothing
    assert codes.count(401) <= 7 and codes[-1] == 429, codes
    assert int(answers[-1].headers["Retry-After"]) >= 1
    # while locked out even the right token is not checked: guessing gains nothing from going fast
    right = requests.post(url + "/login", data={"token": TOKEN}, timeout=10, allow_redirects=False)
    assert right.status_code == 429
    api = requests.get(url + "/api/runs", headers=AUTH, timeout=10)
    assert api.status_code == 429 and api.json()["field"] == "token" and "\n" not in api.text.strip()
    # wrong bearer tokens count the same, and a body sent with one is never read
    put = requests.put(url + "/api/runs/x1", json=sample_record("x1"), headers={"Authorization": "Bearer no"},
                       timeout=10)
    assert put.status_code == 429 and put.headers["Retry-After"]
    assert requests.get(url + "/healthz", timeout=10).status_code == 200  # probes need no token


def test_logout_ends_the_session_for_good(locked):
    url = locked.url
    browser = requests.Session()
    login = browser.post(url + "/login", data={"token": TOKEN, "next": "/"}, timeout=10, allow_redirects=False)
    assert login.status_code == 302 and "Secure" not in login.headers["Set-Cookie"]
    session = browser.cookies["mlrun_session"]
    again = requests.Session()
    again.post(url + "/login", data={"token": TOKEN}, timeout=10, allow_redirects=False)
    assert again.cookies["mlrun_session"] != session  # each login its own session, not a function of the token
    stolen = {"mlrun_session": session}
    assert requests.get(url + "/api/runs", cookies=stolen, timeout=10).status_code == 200
    assert browser.post(url + "/logout", timeout=10, allow_redirects=False).status_code == 302
    assert requests.get(url + "/api/runs", cookies=stolen, timeout=10).status_code == 401
    assert requests.get(url + "/", cookies=stolen, timeout=10, allow_redirects=False).status_code == 302
    assert again.get(url + "/api/runs", timeout=10).status_code == 200  # other sessions live on


def test_behind_tls_the_cookie_is_secure(tmp_path):
    with running_server(str(tmp_path / "store"), token=TOKEN, args=("--behind-tls",)) as srv:
        login = requests.post(srv.url + "/login", data={"token": TOKEN}, timeout=10, allow_redirects=False)
    assert login.status_code == 302
    assert "; Secure" in login.headers["Set-Cookie"] and "HttpOnly" in login.headers["Set-Cookie"]


# -- artifacts: every redirect hop checked, scripts served as bytes ----------------------------------------
CANARY = "internal-canary-2b7f-not-to-be-served"


class RedirectingSite:
    """An HTTP server on 127.0.0.1: ``/runs/...`` is the artifact root, ``/internal/...`` a service outside it."""

    def __init__(self):
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.paths.append(self.path)
                moves = {"/runs/evil.txt": "/internal/secret.txt", "/runs/hop.txt": "/runs/ok.txt",
                         "/runs/twice.txt": "/runs/hop2.txt", "/runs/hop2.txt": outer.url + "/internal/secret.txt"}
                if self.path in moves:
                    self.send_response(302)
                    self.send_header("Location", moves[self.path])
                    self.end_headers()
                    return
                body = (CANARY if self.path.startswith("/internal/") else "from the root\n").encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = LoopbackHTTPServer(Handler)
        self.url = self.server.url


def test_an_http_artifact_root_is_checked_at_every_redirect(tmp_path):
    site = RedirectingSite()
    try:
        with running_server(str(tmp_path / "store"), args=("--artifact-root", site.url + "/runs")) as srv:
            record = sample_record("hop1")
            record["status"]["output_artifacts"] = [
                {"key": name, "target_path": f"{site.url}/runs/{name}", "format": "txt"}
                for name in ("evil.txt", "twice.txt", "hop.txt", "ok.txt")]
            assert requests.put(f"{srv.url}/api/runs/hop1", json=record, timeout=10).status_code == 200
            answers = {name: requests.get(f"{srv.url}/api/runs/hop1/artifacts/{name}", timeout=30)
                       for name in ("evil.txt", "twice.txt", "hop.txt", "ok.txt")}
            page = requests.get(f"{srv.url}/runs/hop1", timeout=30)
    finally:
        site.server.close()
    for name in ("evil.txt", "twice.txt"):
        assert answers[name].status_code == 403, answers[name].text
        assert "outside what the operator allowed" in answers[name].json()["error"]
    assert [answers[name].content for name in ("hop.txt", "ok.txt")] == [b"from the root\n"] * 2
    assert page.status_code == 200 and CANARY not in page.text
    assert not [path for path in site.paths if path.startswith("/internal/")]  # never even asked


def test_scripts_and_style_sheets_are_served_as_bytes(tmp_path):
    store = tmp_path / "store"
    with running_server(str(store)) as srv:
        files = {"app.js": "alert(document.cookie)", "look.css": "body{}", "page.xhtml": "<x/>", "data.csv": "a,b\n"}
        for name, text in files.items():
            (store / name).write_text(text)
        record = sample_record("js1")
        record["status"]["output_artifacts"] = [{"key": name, "target_path": str(store / name)} for name in files]
        assert requests.put(f"{srv.url}/api/runs/js1", json=record, timeout=10).status_code == 200
        answers = {name: requests.get(f"{srv.url}/api/runs/js1/artifacts/{name}", params={"inline": "1"},
                                      timeout=10) for name in files}
    for name in ("app.js", "look.css", "page.xhtml"):
        answer = answers[name]
        assert answer.status_code == 200 and answer.text == files[name]
        assert answer.headers["Content-Type"] == "application/octet-stream"  # with nosniff: never run as a script
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Content-Disposition"].startswith("attachment")
        assert answer.headers["Content-Security-Policy"].startswith("sandbox")
    assert answers["data.csv"].headers["Content-Type"].startswith("text/csv")


# -- pages whose cost grows with one run --------------------------------------------------------------------
def test_pages_bound_what_one_run_shows(tmp_path):
    keys = 5000
    with running_server(str(tmp_path / "store")) as srv:
        record = sample_record("big1")
        record["metadata"]["labels"] = {f"label{i}": "v" for i in range(keys)}
        record["spec"]["parameters"] = {f"p{i}": i for i in range(keys)}
        assert requests.put(f"{srv.url}/api/runs/big1", json=record, timeout=30).status_code == 200
        assert requests.put(f"{srv.url}/api/runs/small1", json=sample_record("small1"), timeout=10).status_code == 200
        log = b"".join(f"line {i:07d}\n".encode() for i in range(100_000))  # 1.3 MB
        assert requests.put(f"{srv.url}/api/runs/big1/log", data=log, timeout=30).status_code == 200

        listing = requests.get(srv.url + "/", timeout=30).text
        compared = requests.get(srv.url + "/compare", params={"uid": ["big1"] * 9 + ["small1"]}, timeout=30)
        page = requests.get(srv.url + "/runs/big1", timeout=30).text
        raw = requests.get(f"{srv.url}/api/runs/big1/log", timeout=30).content
    assert listing.count("label1") <= 12 * 2 and f"+{keys - 12} more" in listing  # chips and their titles
    assert "label4999" not in listing
    assert compared.status_code == 200
    assert "Parameters: the first 200 of 5,0" in compared.text and "p4999" not in compared.text
    assert "line 0099999" in page and "line 0000000" not in page  # the tail, and a link to the whole
    assert "the raw log has it all" in page and "/api/runs/big1/log" in page
    assert raw == log


@pytest.fixture(params=["sqlite", "postgresql", "s3", "server"])
def capped_store(request, tmp_path, monkeypatch):
    """A run store of each kind with MLRUN_MAX_LOG_SIZE=10000, holding run ``cap1``."""
    monkeypatch.setenv("MLRUN_MAX_LOG_SIZE", "10000")
    if request.param == "sqlite":
        url = str(tmp_path / "store")
    elif request.param == "postgresql":
        url = request.getfixturevalue("pg_server").new_database()
    elif request.param == "s3":
        moto = request.getfixturevalue("s3_env")
        url = f"s3://{moto.make_bucket()}/runs"
    if request.param != "server":
        db = get_run_db(url)
        db.store_run(RunRecord.from_dict(sample_record("cap1")))
        yield db
        return
    with running_server(str(tmp_path / "store"), env={"MLRUN_MAX_LOG_SIZE": "10000"}) as srv:
        db = get_run_db(srv.url)
        db.store_run(RunRecord.from_dict(sample_record("cap1")))
        yield db


def test_a_runs_log_stops_at_the_cap_on_every_store(capped_store):
    chunk = b"x" * 999 + b"\n"
    for _ in range(30):
        capped_store.store_log("cap1", chunk, append=True)
    log = capped_store.read_log("cap1")
    assert log[:10000] == chunk * 10
    assert log[10000:] == (b"\n[mlrun: the log was cut here, at 10,000 bytes (MLRUN_MAX_LOG_SIZE); "
                           b"the rest was dropped]\n")
    capped_store.store_log("cap1", b"y" * 50_000, append=False)  # a whole log, replaced: cut the same way
    log = capped_store.read_log("cap1")
    assert log.startswith(b"y" * 10000 + b"\n[mlrun: the log was cut here") and len(log) < 10_200
    tail, size = capped_store.read_log_tail("cap1", 100)
    assert size == len(log) and tail == log[-100:]
