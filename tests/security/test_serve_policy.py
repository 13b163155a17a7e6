"""What a run that arrives over the network may touch: `mlrun serve` processes and the nuclio adapter.

Every refusal is checked from both ends: the answer (403, the record in state ``error`` with a
one-line reason, no traceback, no byte of the refused file) and the world (nothing written outside
the allowed folders, no request reaching the refused HTTP server).
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import nuclio_sdk
import nuclio_sdk.test
import pytest
import requests
import yaml
from helpers import ROOT, LoopbackHTTPServer, mlrun_cli

import mlrun
from mlrun.adapters.nuclio import nuclio_handler, run_event
from mlrun.errors import AccessDeniedError, InvalidInputError
from mlrun.policy import S3_ENDPOINT_KEYS, AccessPolicy, address_kind, url_refusal
from mlrun.protocol import RUN_ANSWER_TYPE

sys.path.insert(0, os.path.join(ROOT, "tests", "remote"))
from remote_helpers import SEED_HANDLERS, SEED_VERBATIM, serving  # noqa: E402

ACCESS_KEY = "policy-access-key-5d1c"
PASSWD = "/etc/passwd"
CLIMB = "../" * 30 + "etc/passwd"
FN_SOURCE = '''\
from seed import my_func


def handler(ctx):
    """The seed's function; with a ``target_path`` parameter it writes one artifact there instead."""
    target = ctx.parameters.get("target_path")
    if target:
        ctx.log_artifact("t.txt", body=b"written", target_path=target)
    else:
        my_func(ctx)
'''


class CountingServer:
    """An HTTP server on 127.0.0.1 counting what it is asked: ``/redirect?to=URL`` answers 302, anything else a body."""

    BODY = b"public data from the counting server\n"

    def __init__(self):
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, with_body: bool):
                outer.paths.append(self.path)
                query = parse_qs(urlsplit(self.path).query)
                if "to" in query:
                    self.send_response(302)
                    self.send_header("Location", query["to"][0])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(outer.BODY)))
                self.end_headers()
                if with_body:
                    self.wfile.write(outer.BODY)

            def do_GET(self):
                self._answer(True)

            def do_HEAD(self):
                self._answer(False)

            def log_message(self, *args):
                pass

        self.server = LoopbackHTTPServer(Handler)
        self.port, self.url = self.server.server_port, self.server.url

    def close(self):
        self.server.close()


class Site:
    """A function folder, a working folder, folders outside both, two HTTP servers and two buckets."""

    def __init__(self, base, moto_server):
        self.base = base
        self.fn, self.work, self.outside, self.outside_w = (base / n for n in ("fn", "work", "outside", "outside_w"))
        for folder in (self.fn, self.work, self.outside, self.outside_w):
            folder.mkdir()
        shutil.copy(SEED_HANDLERS, self.fn / "seed.py")
        (self.fn / "fn.py").write_text(FN_SOURCE)
        self.infile = self.fn / "infile.txt"
        self.infile.write_text("hello from the function folder\n")
        (self.fn / "escape").symlink_to(PASSWD)
        (self.outside / "secret.txt").write_text("outside secret content\n")
        (self.work / "out").mkdir()
        (self.work / "out" / "link").symlink_to(self.outside_w, target_is_directory=True)
        self.allowed_http, self.forbidden_http = CountingServer(), CountingServer()
        self.moto = moto_server
        self.allowed_bucket, self.other_bucket = moto_server.make_bucket(), moto_server.make_bucket()
        for bucket in (self.allowed_bucket, self.other_bucket):
            moto_server.client().put_object(Bucket=bucket, Key="in.txt", Body=b"from s3\n")

    def files(self) -> set:
        """Every file and link under the site, but the function's own home (its run store)."""
        found = set()
        for folder, dirs, names in os.walk(self.base):
            dirs[:] = [d for d in dirs if d != "function-home"]
            found.update(os.path.join(folder, n) for n in names + dirs)
        return found

    def close(self):
        self.allowed_http.close()
        self.forbidden_http.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory, moto_server):
    site = Site(tmp_path_factory.mktemp("policy"), moto_server)
    yield site
    site.close()


@pytest.fixture(scope="module")
def served(site):
    """``mlrun serve fn/fn.py`` with the function's own S3 credentials in its environment, a relative
    ``--out-path``, one allowed HTTP prefix and one allowed bucket."""
    args = ("--out-path", "out", "--allow", f"{site.allowed_http.url}/pub", "--allow", f"s3://{site.allowed_bucket}")
    with serving(f"{site.fn}/fn.py:handler", *args, cwd=str(site.work), env=site.moto.env) as server:
        yield server


def post(url: str, spec: dict, secrets: dict | None = None, accept: str = RUN_ANSWER_TYPE, **params):
    body = {"metadata": {"name": "probe"}, "spec": {"parameters": {"p1": 5, **params}, **spec},
            "secrets": {"ACCESS_KEY": ACCESS_KEY, **(secrets or {})}}
    return requests.post(url, json=body, headers={"Accept": accept}, timeout=60)


def reading(path: str) -> dict:
    return {"input_objects": [{"key": "infile.txt", "path": path}]}


def assert_refused(answer, action: str = "read") -> str:
    """403, the record in state error with one line saying what was refused, no traceback; the line."""
    assert answer.status_code == 403, answer.text
    record = answer.json()["record"] if answer.headers["Content-Type"].startswith(RUN_ANSWER_TYPE) else (
        answer.json() if "json" in answer.headers["Content-Type"] else yaml.safe_load(answer.text))
    error = record["status"]["error"]
    assert record["status"]["state"] == "error"
    assert error.startswith(f"AccessDeniedError: not allowed to {action} ") and "\n" not in error
    assert "Traceback" not in answer.text and ACCESS_KEY not in answer.text
    return error


def assert_no_passwd(text: str) -> None:
    with open(PASSWD) as fp:
        lines = [line.strip() for line in fp if line.strip()]
    assert lines and not [line for line in lines if line in text]


# -- mlrun serve, default policy --------------------------------------------------------------

def test_the_seed_request_works_and_its_artifact_is_recorded_absolute(served, site):
    record = mlrun.run_function(served.url, params={"p1": 5}, inputs={"infile.txt": str(site.infile)},
                                secrets={"ACCESS_KEY": ACCESS_KEY}, stream=False)
    assert record.state == "completed" and record.outputs == {"accuracy": 10}
    target = record.status.output_artifacts[0]["target_path"]
    assert target == str(site.work / "out" / "test.txt")  # --out-path out, recorded absolute
    assert Path(target).read_bytes() == b"abc is 123"
    assert record.status.input_objects[0]["url"] == str(site.infile)


@pytest.mark.parametrize("path", [PASSWD, CLIMB, "file:///etc/passwd", "escape", "fn-escape"])
def test_inputs_outside_the_function_and_output_folders_are_refused(served, site, path):
    path = {"escape": str(site.fn / "escape"), "fn-escape": "../fn/escape"}.get(path, path)
    answer = post(served.url, reading(path))
    error = assert_refused(answer)
    assert path in error
    assert_no_passwd(answer.text)
    assert_no_passwd("".join(served.output))  # nor in what the server printed


@pytest.mark.parametrize("accept", ["application/json", "application/yaml"])
def test_a_refusal_answers_in_the_form_asked_for(served, accept):
    answer = post(served.url, reading(PASSWD), accept=accept)
    assert answer.headers["Content-Type"].startswith(accept)
    assert_refused(answer)
    assert_no_passwd(answer.text)


def test_another_folder_is_refused_too(served, site):
    answer = post(served.url, reading(str(site.outside / "secret.txt")))
    assert_refused(answer)
    assert "outside secret content" not in answer.text


@pytest.mark.parametrize("case", ["output_artifacts", "output_artifacts_relative", "default_output_path",
                                  "default_output_path_climb", "default_output_path_url", "default_output_path_s3",
                                  "symlink_in_out_path", "target_path"])
def test_writes_outside_the_output_path_are_refused_and_nothing_is_created(served, site, case):
    outside = str(site.outside_w)
    spec, params = reading(str(site.infile)), {}
    if case == "output_artifacts":
        spec["output_artifacts"] = [{"key": "test.txt", "path": f"{outside}/o.txt"}]
    elif case == "output_artifacts_relative":
        spec["output_artifacts"] = [{"key": "test.txt", "path": "../outside_w/o.txt"}]
    elif case == "default_output_path":
        spec["default_output_path"] = outside
    elif case == "default_output_path_climb":
        spec["default_output_path"] = "sub/../../../outside_w"
    elif case == "default_output_path_url":
        spec["default_output_path"] = f"file://{outside}"
    elif case == "default_output_path_s3":
        spec["default_output_path"] = f"s3://{site.other_bucket}/out"
    elif case == "symlink_in_out_path":
        spec["default_output_path"] = "link"  # a sub-path, but out/link leads to outside_w
    else:
        params["target_path"] = f"{outside}/t.txt"
    before = site.files()
    answer = post(served.url, spec, **params)
    assert_refused(answer, "write")
    assert site.files() == before and os.listdir(outside) == []
    assert "s3" not in case or "Contents" not in site.moto.client().list_objects_v2(Bucket=site.other_bucket,
                                                                                  Prefix="out")


def test_a_request_may_name_a_sub_path_of_the_output_path(served, site):
    answer = post(served.url, {**reading(str(site.infile)), "default_output_path": "runs/a"})
    assert answer.status_code == 200, answer.text
    target = answer.json()["record"]["status"]["output_artifacts"][0]["target_path"]
    assert target == str(site.work / "out" / "runs" / "a" / "test.txt") and os.path.isfile(target)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "2130706433", "0x7f.1"])
def test_http_inputs_on_loopback_are_refused_before_any_request(served, site, host):
    server = site.forbidden_http
    count = len(server.paths)
    answer = post(served.url, reading(f"http://{host}:{server.port}/file"))
    error = assert_refused(answer)
    assert "loopback address" in error
    assert CountingServer.BODY.decode().strip() not in answer.text
    assert len(server.paths) == count  # the server never heard of it


def test_a_redirect_to_a_refused_address_is_not_followed(served, site):
    """Needs ``HttpStore.url_check`` (mlrun/datastore/http.py): the store checks every hop it follows."""
    allowed, forbidden = site.allowed_http, site.forbidden_http
    direct = post(served.url, reading(f"{allowed.url}/pub/file"))
    assert direct.status_code == 200, (
        "an allowed HTTP input must be read; without HttpStore.url_check (the redirect hook of "
        f"mlrun/datastore/http.py) a served function refuses every HTTP input: {direct.text[:300]}")
    assert CountingServer.BODY.decode().strip() in direct.json()["log"]
    count = len(forbidden.paths)
    answer = post(served.url, reading(f"{allowed.url}/pub/redirect?to={forbidden.url}/file"))
    error = assert_refused(answer)
    assert f"{forbidden.url}/file" in error and "loopback address" in error
    assert len(forbidden.paths) == count


def test_s3_with_the_functions_own_credentials_is_refused(served, site):
    answer = post(served.url, reading(f"s3://{site.other_bucket}/in.txt"))
    assert "carries no S3 credentials" in assert_refused(answer)
    assert "from s3" not in answer.text


def test_s3_with_the_requests_credentials_at_a_loopback_endpoint_is_refused(served, site):
    answer = post(served.url, reading(f"s3://{site.other_bucket}/in.txt"), secrets=site.moto.env)
    error = assert_refused(answer)
    assert "S3 endpoint in S3_ENDPOINT_URL: 127.0.0.1 is a loopback address" in error
    assert "from s3" not in answer.text and site.moto.env["AWS_SECRET_ACCESS_KEY"] not in answer.text


def test_s3_with_the_requests_own_credentials_at_the_functions_endpoint_works(served, site):
    credentials = {k: site.moto.env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    answer = post(served.url, reading(f"s3://{site.other_bucket}/in.txt"), secrets=credentials)
    assert answer.status_code == 200, answer.text
    assert "from s3" in answer.json()["log"]


def test_an_allowed_bucket_works_with_the_functions_own_credentials(served, site):
    answer = post(served.url, reading(f"s3://{site.allowed_bucket}/in.txt"))
    assert answer.status_code == 200, answer.text
    assert "from s3" in answer.json()["log"]


def test_the_seed_function_verbatim_answers_403(site, tmp_path):
    """The seed's own ``handler(context, event)`` builds its context itself: the policy reaches it too."""
    with serving(SEED_VERBATIM, cwd=str(tmp_path)) as server:
        answer = post(server.url, reading(PASSWD))
        plain = post(server.url, reading(PASSWD), accept="")
        output = server.stop()
    assert_refused(answer)
    assert_refused(plain)  # YAML, the default form
    assert_no_passwd(answer.text + plain.text + output)
    assert '"POST / HTTP/1.1" 403' in output


# -- mlrun serve --allow '*' ------------------------------------------------------------------

def test_allow_anything_lets_every_request_through(site, tmp_path):
    forbidden = site.forbidden_http
    count = len(forbidden.paths)
    with serving(f"{site.fn}/fn.py:handler", "--allow", "*", cwd=str(tmp_path), env=site.moto.env) as server:
        outside = post(server.url, reading(str(site.outside / "secret.txt")))
        loopback = post(server.url, reading(f"{forbidden.url}/file"))
        s3 = post(server.url, reading(f"s3://{site.other_bucket}/in.txt"))
        written = post(server.url, {**reading(str(site.infile)), "default_output_path": str(tmp_path / "elsewhere")})
        output = server.stop()
    assert [a.status_code for a in (outside, loopback, s3, written)] == [200] * 4, output
    assert "outside secret content" in outside.json()["log"]
    assert CountingServer.BODY.decode().strip() in loopback.json()["log"] and len(forbidden.paths) == count + 1
    assert "from s3" in s3.json()["log"]
    assert (tmp_path / "elsewhere" / "test.txt").read_bytes() == b"abc is 123"
    assert "runs may use anything" in output


# -- tokens ------------------------------------------------------------------------------------

def test_listening_beyond_loopback_needs_a_token_checked_before_binding(site, tmp_path):
    with socket.socket() as holder:  # the port is taken (on loopback only): binding first would fail differently
        holder.bind(("127.0.0.1", 0))
        port = str(holder.getsockname()[1])
        env = {"MLRUN_FUNCTION_TOKEN": "", "MLRUN_SERVE_INSECURE": ""}
        refused = mlrun_cli("serve", f"{site.fn}/fn.py:handler", "--host", "0.0.0.0", "--port", port,
                            cwd=str(tmp_path), env=env)
        insecure_env = mlrun_cli("serve", f"{site.fn}/fn.py:handler", "--host", "0.0.0.0", "--port", port,
                                 cwd=str(tmp_path), env={**env, "MLRUN_SERVE_INSECURE": "1"})
        with_token = mlrun_cli("serve", f"{site.fn}/fn.py:handler", "--host", "0.0.0.0", "--port", port,
                               cwd=str(tmp_path), env={**env, "MLRUN_FUNCTION_TOKEN": "t0ken"})
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "Error: refusing to listen on 0.0.0.0 without a token: set $MLRUN_FUNCTION_TOKEN or --token, "
        "or pass --insecure"]
    for passed in (insecure_env, with_token):  # past the check, they tried to bind the taken port
        assert passed.returncode == 1 and "cannot listen on 0.0.0.0" in passed.stderr, passed.stderr


def test_insecure_starts_on_every_interface(site, tmp_path):
    # --host overrides the helper's 127.0.0.1; its health check asks 127.0.0.1 only, and nothing else is sent
    with serving(f"{site.fn}/fn.py:handler", "--host", "0.0.0.0", "--insecure", cwd=str(tmp_path)) as server:
        port = server.url.rsplit(":", 1)[1]
        output = server.stop()
    assert f"serving {site.fn}/fn.py:handler on http://0.0.0.0:{port}" in output
    assert "warning: no token" in output


# -- local runs: artifact keys and paths -------------------------------------------------------

@pytest.mark.parametrize("key", [".", "./", "a/", "a/.", "a//"])
def test_an_artifact_key_naming_a_folder_is_refused_in_one_line(tmp_path, key):
    ctx = mlrun.get_or_create_ctx("keys", spec={"spec": {"default_output_path": str(tmp_path / "out")}})
    with pytest.raises(InvalidInputError) as info:
        ctx.log_artifact(key, body=b"x")
    assert str(info.value) == f"artifact key {key!r} names a folder: it must name a file inside the output path"


def test_a_key_leading_out_through_a_symlink_is_refused_in_a_local_run(tmp_path):
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (out / "link").symlink_to(outside, target_is_directory=True)
    ctx = mlrun.get_or_create_ctx("keys", spec={"spec": {"default_output_path": str(out)}})
    with pytest.raises(AccessDeniedError) as info:
        ctx.log_artifact("link/x.txt", body=b"x")
    assert str(info.value) == "artifact key 'link/x.txt' leads outside the output path through a symlink"
    ctx.log_artifact("inside/x.txt", body=b"x")  # a plain sub-folder is fine
    (tmp_path / "run.py").write_text("import mlrun\nctx = mlrun.get_or_create_ctx('k')\n"
                                     "ctx.log_artifact('link/y.txt', body=b'y')\n")
    result = mlrun_cli("run", "--out-path", "out", "--uid", "symlink01", "run.py", cwd=str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == ("Error: run symlink01 failed: AccessDeniedError: artifact key "
                                                      "'link/y.txt' leads outside the output path through a symlink")
    assert os.listdir(outside) == []


def test_a_relative_out_path_is_recorded_absolute(tmp_path):
    (tmp_path / "run.py").write_text("import mlrun\nmlrun.get_or_create_ctx('a').log_artifact('a.txt', body=b'a')\n")
    result = mlrun_cli("run", "--out-path", "rel/out", "--uid", "absolute01", "run.py", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    record = yaml.safe_load(result.stdout[result.stdout.index("metadata:"):])
    assert record["status"]["output_artifacts"][0]["target_path"] == str(tmp_path / "rel" / "out" / "a.txt")


# -- the nuclio adapter, in process --------------------------------------------------------------

def nuclio_event(spec: dict, secrets: dict | None = None, **params) -> nuclio_sdk.Event:
    body = {"metadata": {"uid": "nuclio01"}, "spec": {"parameters": params, **spec},
            "secrets": {"ACCESS_KEY": ACCESS_KEY, **(secrets or {})}}
    return nuclio_sdk.Event(body=json.dumps(body).encode(), content_type="application/json",
                            headers={"Accept": RUN_ANSWER_TYPE}, method="POST", path="/")


def read_inputs(ctx):
    for key in ctx.inputs:
        print(f"{key}: {ctx.get_object(key).get()!r}")


def write_artifact(ctx):
    ctx.log_artifact("w.txt", body=b"w", target_path=ctx.parameters.get("target_path"))


def call(fn, event) -> tuple[int, dict, str]:
    response = nuclio_sdk.test.Platform().call_handler(nuclio_handler(fn), event)
    answer = json.loads(response.body)
    return response.status_code, answer["record"], answer["log"]


def assert_nuclio_refused(status: int, record: dict, log: str, action: str = "read") -> str:
    error = record["status"]["error"]
    assert status == 403 and record["status"]["state"] == "error"
    assert error.startswith(f"AccessDeniedError: not allowed to {action} ") and "\n" not in error
    assert "Traceback" not in log
    return error


@pytest.fixture
def outside(tmp_path_factory):
    """A folder that is neither the function's (this file's), nor the working directory (the output path)."""
    folder = tmp_path_factory.mktemp("nuclio-outside")
    (folder / "secret.txt").write_text("outside secret content\n")
    return folder


@pytest.mark.parametrize("path", [PASSWD, CLIMB, "escape"])
def test_nuclio_refuses_reads_outside_by_default(tmp_path, monkeypatch, path):
    monkeypatch.delenv("MLRUN_SERVE_ALLOW", raising=False)
    (tmp_path / "escape").symlink_to(PASSWD)  # a link in the output path (the working directory)
    status, record, log = call(read_inputs, nuclio_event(reading(path)))
    assert_nuclio_refused(status, record, log)
    assert_no_passwd(json.dumps(record) + log)


def test_nuclio_reads_what_mlrun_serve_allow_names(tmp_path, monkeypatch, outside):
    event = nuclio_event(reading(str(outside / "secret.txt")))
    monkeypatch.delenv("MLRUN_SERVE_ALLOW", raising=False)
    assert_nuclio_refused(*call(read_inputs, event))
    monkeypatch.setenv("MLRUN_SERVE_ALLOW", f"s3://some-bucket,{outside}")
    status, record, log = call(read_inputs, nuclio_event(reading(str(outside / "secret.txt"))))
    assert status == 200 and "outside secret content" in log
    monkeypatch.setenv("MLRUN_SERVE_ALLOW", str(tmp_path / "elsewhere"))
    assert_nuclio_refused(*call(read_inputs, nuclio_event(reading(str(outside / "secret.txt")))))


def test_nuclio_refuses_loopback_http_unless_everything_is_allowed(monkeypatch):
    server = CountingServer()
    try:
        monkeypatch.delenv("MLRUN_SERVE_ALLOW", raising=False)
        status, record, log = call(read_inputs, nuclio_event(reading(f"{server.url}/file")))
        assert "loopback address" in assert_nuclio_refused(status, record, log)
        assert server.paths == []
        monkeypatch.setenv("MLRUN_SERVE_ALLOW", "*")
        status, record, log = call(read_inputs, nuclio_event(reading(f"{server.url}/file")))
        assert status == 200 and "public data" in log and server.paths == ["/file"]
    finally:
        server.close()


def test_nuclio_never_lends_its_own_s3_credentials(s3_env, monkeypatch):
    bucket = s3_env.make_bucket()
    s3_env.client().put_object(Bucket=bucket, Key="in.txt", Body=b"from s3\n")
    monkeypatch.delenv("MLRUN_SERVE_ALLOW", raising=False)
    status, record, log = call(read_inputs, nuclio_event(reading(f"s3://{bucket}/in.txt")))
    assert "carries no S3 credentials" in assert_nuclio_refused(status, record, log) and "from s3" not in log
    monkeypatch.setenv("MLRUN_SERVE_ALLOW", f"s3://{bucket}")
    status, record, log = call(read_inputs, nuclio_event(reading(f"s3://{bucket}/in.txt")))
    assert status == 200 and "from s3" in log


def test_nuclio_checks_named_stores_on_the_url_they_resolve_to(moto_server, monkeypatch):
    monkeypatch.delenv("MLRUN_SERVE_ALLOW", raising=False)
    stores = [{"name": "etc", "url": "/etc"}, {"name": "lake", "url": "s3://lake-bucket/raw", "secret_prefix": "LAKE_"}]
    status, record, log = call(read_inputs, nuclio_event({**reading("ds://etc/passwd"), "data_stores": stores}))
    assert "/etc/passwd" in assert_nuclio_refused(status, record, log)
    assert_no_passwd(log)
    lake = {f"LAKE_{k}": v for k, v in moto_server.env.items()}
    status, record, log = call(read_inputs, nuclio_event({**reading("ds://lake/in.txt"), "data_stores": stores},
                                                         secrets=lake))
    assert "S3 endpoint in S3_ENDPOINT_URL: 127.0.0.1" in assert_nuclio_refused(status, record, log)


@pytest.mark.parametrize("case", ["output_artifacts", "default_output_path", "target_path"])
def test_nuclio_refuses_writes_outside_the_output_path(monkeypatch, outside, case):
    monkeypatch.delenv("MLRUN_SERVE_ALLOW", raising=False)
    target = str(outside / "w.txt")
    spec, params = {}, {}
    if case == "output_artifacts":
        spec["output_artifacts"] = [{"key": "w.txt", "path": target}]
    elif case == "default_output_path":
        spec["default_output_path"] = str(outside)
    else:
        params["target_path"] = target
    assert_nuclio_refused(*call(write_artifact, nuclio_event(spec, **params)), action="write")
    assert os.listdir(outside) == ["secret.txt"]


def test_an_input_handle_cannot_write_where_the_policy_only_lets_it_read(tmp_path):
    fn_dir = tmp_path / "fn"
    fn_dir.mkdir()
    (fn_dir / "model.txt").write_text("the function's own file\n")
    policy = AccessPolicy.serving([], out_path=str(tmp_path / "out"), function_dir=str(fn_dir))

    def overwrite(ctx):
        print(ctx.get_object("model").get())
        ctx.get_object("model").put(b"overwritten")

    event = nuclio_event({"input_objects": [{"key": "model", "path": str(fn_dir / "model.txt")}]})
    status, body_type, body = run_event(overwrite, event, policy=policy)
    answer = json.loads(body)
    assert_nuclio_refused(status, answer["record"], answer["log"], action="write")
    assert "the function's own file" in answer["log"]
    assert (fn_dir / "model.txt").read_text() == "the function's own file\n"


def test_the_seed_form_under_nuclio_gets_the_policy_too(monkeypatch, capsys):
    monkeypatch.delenv("MLRUN_SERVE_ALLOW", raising=False)
    spec = importlib.util.spec_from_file_location("seed_function_policy", SEED_VERBATIM)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "seed_function_policy", module)
    spec.loader.exec_module(module)
    with pytest.raises(AccessDeniedError, match="not allowed to read /etc/passwd"):
        nuclio_sdk.test.Platform().call_handler(module.handler, nuclio_event(reading(PASSWD)))
    assert_no_passwd(capsys.readouterr().out)


# -- the policy itself ---------------------------------------------------------------------------

@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "a loopback address"), ("::1", "a loopback address"), ("::ffff:127.0.0.1", "a loopback address"),
    ("2002:7f00:1::", "a loopback address"), ("64:ff9b::a00:1", "a private address"),
    ("169.254.169.254", "a link-local address"), ("fe80::1", "a link-local address"),
    ("10.1.2.3", "a private address"), ("192.168.0.1", "a private address"), ("fd00::1", "a private address"),
    ("224.0.0.1", "a multicast address"), ("0.0.0.0", "an unspecified address"), ("::", "an unspecified address"),
    ("240.0.0.1", "a reserved address"), ("100.64.0.1", "a non-public address"), ("8.8.8.8", ""),
    ("2606:4700:4700::1111", ""),
])
def test_addresses_a_request_may_not_reach(address, kind):
    assert address_kind(address) == kind


@pytest.mark.parametrize("url", ["http://localhost:1/x", "http://[::1]:1/", "http://u@127.0.0.1\\@example.com/",
                                 "https://127.1/", "ftp://example.com/x"])
def test_urls_that_reach_this_machine_or_nowhere_are_refused(url):
    assert url_refusal(url)


def test_the_policy_reads_the_endpoint_keys_the_s3_store_reads():
    from mlrun.datastore import s3

    assert S3_ENDPOINT_KEYS == s3.ENDPOINT_KEYS


def test_a_request_may_only_name_a_sub_path_of_the_output_path(tmp_path):
    policy = AccessPolicy.serving([str(tmp_path / "shared")], str(tmp_path / "out"), function_dir=str(tmp_path))
    assert policy.output_path("") == str(tmp_path / "out")
    assert policy.output_path("a/b") == str(tmp_path / "out" / "a" / "b")
    assert policy.output_path(str(tmp_path / "shared" / "x")) == str(tmp_path / "shared" / "x")  # allowed
    assert policy.output_path("../shared/y") == str(tmp_path / "shared" / "y")
    for requested in ("/tmp", "../elsewhere", "s3://bucket/x", "file:///tmp"):
        with pytest.raises(AccessDeniedError, match="^not allowed to write .*: spec.default_output_path may only"):
            policy.output_path(requested)


def test_mlrun_serve_stops_cleanly_after_refusals(served):
    assert served.proc.poll() is None  # every refusal above was an answer, not a crash
    assert requests.get(served.url + "/healthz", timeout=10).json() == {"status": "ok"}
