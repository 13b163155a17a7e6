"""Trust boundaries of a served function, round two: each finding replayed as an attacker would, against real
``mlrun serve`` processes, a real moto S3 server and real loopback HTTP servers, showing the safe behaviour.

Request-chosen S3 endpoints never receive the function's credentials; without ``--out-path`` a function writes
to a fresh folder of its own and never into its own sources; a request's secrets mask only that request; a
request never replaces a stored run; compressed inputs are bounded after decoding; a symlink swapped after the
check leads nowhere; masking keeps a record's identity.
"""
from __future__ import annotations

import getpass
import gzip
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import requests
from helpers import ROOT, LoopbackHTTPServer

from mlrun.model import RunRecord
from mlrun.protocol import RUN_ANSWER_TYPE
from mlrun.rundb import get_run_db

sys.path.insert(0, os.path.join(ROOT, "tests", "remote"))
from remote_helpers import serving  # noqa: E402

HANDLER = '''\
def handler(ctx):
    p = ctx.parameters
    if p.get("say"):
        print("say", p["say"])
    if p.get("how"):
        item = ctx.get_object("data")
        how = p["how"]
        data = item.get() if how == "get" else item.open().read() if how == "open" else open(item.local(), "rb").read()
        print("read", len(data), data[:40])
    if p.get("artifact"):
        ctx.log_artifact(p["artifact"], body=b"written")
    if p.get("target_path"):
        ctx.log_artifact("t.txt", body=b"written", target_path=p["target_path"])
    ctx.log_output("done", True)
'''
OUTSIDE = "outside-content-7f3a"


_session = requests.Session()  # one connection per server, as a client in a loop would keep


def post(url: str, params: dict | None = None, secrets: dict | None = None, inputs: dict | None = None,
         metadata: dict | None = None, spec: dict | None = None) -> requests.Response:
    body = {"metadata": {"name": "probe", **(metadata or {})},
            "spec": {"parameters": params or {}, **(spec or {}),
                     "input_objects": [{"key": k, "path": v} for k, v in (inputs or {}).items()]}}
    if secrets:
        body["secrets"] = secrets
    return _session.post(url, json=body, headers={"Accept": RUN_ANSWER_TYPE}, timeout=60)


def record_of(answer: requests.Response) -> dict:
    return answer.json()["record"]


def refusal(answer: requests.Response) -> str:
    """The one-line reason of a 403 (the record in state error, no traceback)."""
    assert answer.status_code == 403, answer.text
    error = record_of(answer)["status"]["error"]
    assert error.startswith("AccessDeniedError: not allowed to ") and "\n" not in error
    assert "Traceback" not in answer.text
    return error


class Recording(BaseHTTPRequestHandler):
    """Records every request it gets (method, path, headers) in its server's ``seen`` and answers 403."""

    def _record(self):
        self.server.seen.append((self.command, self.path, dict(self.headers)))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_HEAD = do_POST = _record

    def log_message(self, *args):
        pass


@pytest.fixture
def project(tmp_path):
    """A project folder as the README's example has it: a secrets file, and the handler in handlers/."""
    folder = tmp_path / "project"
    (folder / "handlers").mkdir(parents=True)
    (folder / "handlers" / "fn.py").write_text(HANDLER)
    (folder / "secrets.txt").write_text(f"ACCESS_KEY={OUTSIDE}\n")
    return folder


@pytest.fixture
def recorder():
    """A loopback HTTP server standing for an S3 endpoint a caller chose: it records what reaches it."""
    server = LoopbackHTTPServer(Recording)
    server.seen = []
    yield server
    server.close()


# -- 1. request-chosen S3 endpoints ---------------------------------------------------------------------------------

@pytest.mark.parametrize("allow", ["prefix", "anything"])
def test_a_request_naming_an_endpoint_never_gets_the_functions_credentials(project, moto_server, recorder, allow):
    bucket = moto_server.make_bucket()
    own = {**moto_server.env, "AWS_SESSION_TOKEN": "function-session-token-9c2e"}
    allowed = f"s3://{bucket}/data" if allow == "prefix" else "*"
    with serving(f"{project}/handlers/fn.py:handler", "--allow", allowed, cwd=str(project), env=own) as served:
        for key in ("S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
            read = post(served.url, {"how": "get"}, secrets={key: recorder.url},
                        inputs={"data": f"s3://{bucket}/data/x.csv"})
            assert "without credentials of its own" in refusal(read)
        write = post(served.url, {"target_path": f"s3://{bucket}/data/out.txt"},
                     secrets={"S3_ENDPOINT_URL": recorder.url})
        assert "without credentials of its own" in refusal(write)
        output = served.stop()
    assert recorder.seen == []  # not one request reached the endpoint the caller chose
    for text in (output, read.text, write.text):
        assert own["AWS_SECRET_ACCESS_KEY"] not in text and own["AWS_SESSION_TOKEN"] not in text


def test_a_request_with_its_own_credentials_reaches_only_an_allowed_or_public_endpoint(project, moto_server,
                                                                                      recorder):
    bucket = moto_server.make_bucket()
    mine = {"AWS_ACCESS_KEY_ID": "CALLERKEY0000000001", "AWS_SECRET_ACCESS_KEY": "caller-secret-key-41f"}
    with serving(f"{project}/handlers/fn.py:handler", "--allow", f"s3://{bucket}", cwd=str(project),
                 env=moto_server.env) as served:
        loopback = post(served.url, {"how": "get"}, secrets={**mine, "S3_ENDPOINT_URL": recorder.url},
                        inputs={"data": f"s3://{bucket}/x.csv"})
        assert "127.0.0.1 is a loopback address" in refusal(loopback)
    assert recorder.seen == []
    # the operator allows that endpoint: the request's own key goes there, never the function's
    with serving(f"{project}/handlers/fn.py:handler", "--allow", f"s3://{bucket}", "--allow", recorder.url,
                 cwd=str(project), env=moto_server.env) as served:
        post(served.url, {"how": "get"}, secrets={**mine, "S3_ENDPOINT_URL": recorder.url},
             inputs={"data": f"s3://{bucket}/x.csv"})
    assert recorder.seen
    for _, _, headers in recorder.seen:
        assert mine["AWS_ACCESS_KEY_ID"] in headers.get("Authorization", "")
        assert moto_server.env["AWS_ACCESS_KEY_ID"] not in json.dumps(headers)


def test_the_functions_own_endpoint_still_serves_an_allowed_bucket(project, moto_server):
    bucket = moto_server.make_bucket()
    moto_server.client().put_object(Bucket=bucket, Key="data/x.csv", Body=b"a,b\n1,2\n")
    with serving(f"{project}/handlers/fn.py:handler", "--allow", f"s3://{bucket}/data", cwd=str(project),
                 env=moto_server.env) as served:
        answer = post(served.url, {"how": "get"}, inputs={"data": f"s3://{bucket}/data/x.csv"})
    assert answer.status_code == 200, answer.text
    assert "read 8" in answer.json()["log"]


# -- 2. the function's own output folder ------------------------------------------------------------------------

def test_without_out_path_a_function_writes_to_a_fresh_folder_of_its_own(project):
    home = project.parent / "home"
    env = {"MLRUN_OUT_PATH": "", "MLRUN_HOME": str(home)}
    with serving("handlers/fn.py:handler", cwd=str(project), env=env) as served:
        secrets_file = post(served.url, {"how": "get"}, inputs={"data": "secrets.txt"})
        relative = post(served.url, {"how": "get"}, inputs={"data": str(project / "secrets.txt")})
        source = post(served.url, {"target_path": str(project / "handlers" / "fn.py")})
        listed = post(served.url, spec={"output_artifacts": [{"key": "t.txt", "path": "handlers/fn.py"}]},
                      params={"target_path": ""})
        written = post(served.url, {"artifact": "sub/t.txt"})
        output = served.stop()
    out = re.search(r"runs write their artifacts to (\S+)", output).group(1)
    assert out.startswith(str(home / "serve") + os.sep) and os.listdir(out) == ["sub"]
    for answer in (secrets_file, relative):
        refusal(answer)
        assert OUTSIDE not in answer.text
    assert "not allowed to write" in refusal(source)
    assert (project / "handlers" / "fn.py").read_text() == HANDLER
    assert listed.status_code == 200 and not (project / "handlers" / "t.txt").exists()
    assert written.status_code == 200 and (Path(out) / "sub" / "t.txt").read_bytes() == b"written"
    assert sorted(os.listdir(project)) == ["handlers", "secrets.txt"]  # nothing landed in the working folder


def test_a_read_only_folder_stays_read_only_inside_a_writable_one(project):
    with serving("handlers/fn.py:handler", "--out-path", str(project), cwd=str(project)) as served:
        inside = post(served.url, {"target_path": str(project / "handlers" / "new.txt")})
        source = post(served.url, {"target_path": str(project / "handlers" / "fn.py")})
        beside = post(served.url, {"target_path": str(project / "ok.txt")})
    assert "not allowed to write" in refusal(inside) and "not allowed to write" in refusal(source)
    assert beside.status_code == 200 and (project / "ok.txt").read_bytes() == b"written"
    assert sorted(os.listdir(project / "handlers")) == ["fn.py"]


def test_the_handlers_sources_are_never_writable_even_in_its_output_folder(project):
    handlers = project / "handlers"
    with serving("handlers/fn.py:handler", "--out-path", str(handlers), cwd=str(project)) as served:
        answers = [post(served.url, {"target_path": str(handlers / name)})
                   for name in ("fn.py", "helper.py", "__pycache__/fn.cpython-311.pyc")]
        data = post(served.url, {"target_path": str(handlers / "data.txt")})
    for answer in answers:
        assert "not allowed to write" in refusal(answer)
    assert (handlers / "fn.py").read_text() == HANDLER and not (handlers / "helper.py").exists()
    assert data.status_code == 200 and (handlers / "data.txt").read_bytes() == b"written"


# -- 3. request-scoped secrets ----------------------------------------------------------------------------------

def test_a_requests_secrets_mask_only_that_request(project):
    with serving("handlers/fn.py:handler", cwd=str(project)) as served:
        first = post(served.url, {"say": "token s3cr3t-of-the-first-caller"},
                     secrets={"A": "POST", "B": "127.0.0.1", "C": "s3cr3t-of-the-first-caller"})
        second = post(served.url, {"say": "POST from 127.0.0.1"})
        output = served.stop()
    assert "say token ******" in first.json()["log"]
    assert "say POST from 127.0.0.1" in second.json()["log"]  # another caller's output is its own
    assert '127.0.0.1 "POST / HTTP/1.1" 200' in output  # the access log too
    assert "s3cr3t-of-the-first-caller" not in output + first.text


def test_a_requests_secrets_are_bounded_in_count_and_size(project):
    env = {"MLRUN_MAX_REQUEST_SECRETS": "8", "MLRUN_MAX_SECRET_SIZE": "1024"}
    with serving("handlers/fn.py:handler", cwd=str(project), env=env) as served:
        many = post(served.url, secrets={f"K{i}": f"value-{i}" for i in range(9)})
        large = post(served.url, secrets={"BIG": "v" * 2000})
        fine = post(served.url, secrets={f"K{i}": "v" * 900 for i in range(8)})
        runs = served.stop().count('"POST / HTTP/1.1" 200')
    for answer, reason in ((many, "9 secrets, more than the limit of 8"), (large, "'BIG' is larger than the limit")):
        assert answer.status_code == 413
        error = answer.json()["error"]
        assert reason in error and "\n" not in error and "vvvv" not in error
    assert fine.status_code == 200 and runs == 1


def test_masking_finds_every_value_among_thousands_in_one_pass(monkeypatch):
    from mlrun import secrets

    values = [f"tok{i:05d}-{i * 7919 % 100003:06d}" for i in range(4096)] + ["overlap-abc", "abc-tail-xyz"]
    text = f"start {values[42]} mid overlap-abc-tail-xyz end tok04095-" + "x" * 5000
    for fallback in (False, True):
        if fallback:  # the pure-Python matcher (no ahocorasick-rs installed) gives the same answer
            monkeypatch.setitem(sys.modules, "ahocorasick_rs", None)
        maskable = secrets._expand(tuple(values))
        assert len(maskable) > secrets.MATCHER_THRESHOLD
        # overlapping values hide as one; a value cut short (tok04095-) is not one
        assert secrets._hide(text, maskable) == "start ****** mid ****** end tok04095-" + "x" * 5000
        record = {"metadata": {"name": "r", "uid": "u"}, "spec": {"parameters": {values[1]: 1}}}
        assert secrets._mask_data(record, maskable)["spec"]["parameters"] == {"******": 1}


# -- 5. a request never replaces a stored run; the owner is the caller's ---------------------------------------

def test_a_request_naming_a_stored_runs_uid_never_replaces_it(project):
    db = str(project.parent / "function-db")
    victim = {"metadata": {"name": "training", "uid": "0123456789abcdef0123456789abcdef", "labels": {"owner": "alice"}},
              "status": {"state": "completed", "outputs": {"accuracy": 0.71}}}
    get_run_db(db).store_run_data(RunRecord.from_dict(victim).to_dict())
    with serving("handlers/fn.py:handler", cwd=str(project), env={"MLRUN_DBPATH": db}) as served:
        hijack = post(served.url, metadata={"name": "hijacked", "uid": victim["metadata"]["uid"],
                                            "labels": {"owner": "mallory"}})
        plain = post(served.url)
    assert hijack.status_code == 200, hijack.text
    stored = get_run_db(db).read_run_data(victim["metadata"]["uid"])
    assert stored["metadata"]["name"] == "training" and stored["status"]["outputs"] == {"accuracy": 0.71}
    fresh = record_of(hijack)["metadata"]["uid"]
    assert fresh != victim["metadata"]["uid"]
    assert get_run_db(db).read_run_data(fresh)["metadata"]["labels"] == {"owner": "mallory"}  # the caller's own
    assert record_of(plain)["metadata"]["labels"].get("owner") != getpass.getuser()  # never the server's user


# -- 7. decompression bombs -------------------------------------------------------------------------------------

class GzipBomb(BaseHTTPRequestHandler):
    """Answers 64 MiB of zeros, gzip-encoded (about 64 KiB on the wire)."""

    BODY = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)

    def do_HEAD(self, body: bool = False):
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(self.BODY)))
        self.end_headers()
        if body:
            self.wfile.write(self.BODY)

    def do_GET(self):
        self.do_HEAD(body=True)

    def log_message(self, *args):
        pass


def test_a_compressed_input_is_bounded_after_decoding(project):
    bomb = LoopbackHTTPServer(GzipBomb)
    try:
        env = {"MLRUN_MAX_INPUT_SIZE": str(4 * 1024 * 1024)}
        with serving("handlers/fn.py:handler", "--allow", bomb.url, cwd=str(project), env=env) as served:
            answers = {how: post(served.url, {"how": how}, inputs={"data": f"{bomb.url}/data.bin"})
                       for how in ("get", "open", "local")}
            healthy = requests.get(served.url + "/healthz", timeout=10)
    finally:
        bomb.close()
    assert healthy.status_code == 200
    for how, answer in answers.items():
        record = record_of(answer)
        assert record["status"]["state"] == "error", how
        error = record["status"]["error"]
        assert f"{bomb.url}/data.bin" in error and "limit of 4194304 bytes" in error and "\n" not in error, error


# -- 8. check then open -----------------------------------------------------------------------------------------

def test_a_symlink_swapped_after_the_check_never_leads_outside(project):
    inside, outside = project / "data", project.parent / "outside"
    inside.mkdir()
    outside.mkdir()
    (inside / "real.txt").write_text("inside content\n")
    (outside / "secret.txt").write_text(OUTSIDE + "\n")
    link, swap = inside / "link.txt", inside / "link.swap"
    out_link = inside / "dir"
    stop = threading.Event()

    def flip():  # the link points inside (what the check sees) and outside (what an open may meet), in turn
        targets = [(str(inside / "real.txt"), str(inside)), (str(outside / "secret.txt"), str(outside))]
        while not stop.is_set():
            for file_target, dir_target in targets:
                for name, target in ((link, file_target), (out_link, dir_target)):
                    tmp = str(swap) + name.name
                    os.symlink(target, tmp)
                    os.replace(tmp, name)

    os.symlink(inside / "real.txt", link)
    os.symlink(inside, out_link)
    with serving("handlers/fn.py:handler", "--allow", str(inside), cwd=str(project)) as served:
        flipper = threading.Thread(target=flip, daemon=True)
        flipper.start()
        try:
            answers = [post(served.url, {"how": how}, inputs={"data": str(link)})
                       for how in ("get", "open", "local") for _ in range(40)]
            writes = [post(served.url, {"target_path": str(out_link / f"w{i}.txt")}) for i in range(60)]
        finally:
            stop.set()
            flipper.join(10)
    assert [a for a in answers if OUTSIDE in a.text] == []
    assert sorted(os.listdir(outside)) == ["secret.txt"]  # no write went through the swapped link
    assert any(a.status_code == 200 for a in answers) and any(w.status_code == 200 for w in writes)
    for answer in answers + writes:
        assert answer.status_code in (200, 403, 500), answer.text


# -- 13. masking keeps a record's identity --------------------------------------------------------------------

def test_a_short_secret_never_changes_a_records_identity(project):
    uid = "0123456789abcdef456789abcdef4560"
    with serving("handlers/fn.py:handler", cwd=str(project)) as served:
        answer = post(served.url, {"say": "pin 456", "note": "456"}, secrets={"PIN": "456"}, metadata={"uid": uid})
    assert answer.status_code == 200, answer.text
    record = record_of(answer)
    assert record["metadata"]["uid"] == uid and "******" not in json.dumps(record["metadata"])
    assert record["spec"]["parameters"]["note"] == "******" and "pin ******" in answer.json()["log"]
    loaded = RunRecord.from_dict(record)  # loads: its identity and structure are intact
    assert loaded.uid == uid and loaded.state == "completed"


def test_masking_keeps_identity_fields_and_format_keys():
    from mlrun.secrets import SecretsStore

    store = SecretsStore()
    store.add_source("inline", {"A": "456", "B": "status", "C": "completed"})
    record = {"metadata": {"name": "n456", "uid": "abc456", "iteration": 456, "labels": {"k456": "v"}},
              "spec": {"parameters": {"status": 1}},
              "status": {"state": "completed", "start_time": "2026-12-05T10:04:56.456000+00:00",
                         "outputs": {"x": "456", "nested": {"state": "completed"}},
                         "output_artifacts": [{"key": "a", "kind": "table", "sha256": "ff456", "size": 456}]}}
    masked = store.mask_record(record)
    assert masked["metadata"] == {"name": "n******", "uid": "abc456", "iteration": 456, "labels": {"k******": "v"}}
    assert masked["spec"]["parameters"] == {"******": 1}  # the user's own keys are masked
    assert masked["status"]["state"] == "completed" and masked["status"]["start_time"].endswith(".456000+00:00")
    assert masked["status"]["outputs"] == {"x": "******", "nested": {"state": "******"}}  # the user's, masked
    assert masked["status"]["output_artifacts"] == [{"key": "a", "kind": "table", "sha256": "ff456", "size": 456}]
