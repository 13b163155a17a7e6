"""Hostile text: alias bombs, deep and oversized specs, records of the wrong shape, bytes that are not UTF-8,
absurd numbers and hosts on the command line.  Against real ``mlrun serve`` and ``mlrun server`` processes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
for _folder in ("remote", "server"):  # the process helpers of those suites
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), _folder))

from helpers import mlrun_cli  # noqa: E402
from remote_helpers import SEED_HANDLERS, Workdir, serving  # noqa: E402
from server_process import running_server  # noqa: E402

from mlrun import get_or_create_ctx  # noqa: E402
from mlrun.errors import InvalidSpecError, LimitExceededError  # noqa: E402

#: "billion laughs" in YAML: 9 levels of 9 aliases, about 400 million nodes once expanded, in under 500 bytes
LAUGHS = "\n".join(
    [f"    a: &a [{', '.join(['lol'] * 9)}]"]
    + [f"    {name}: &{name} [{', '.join([f'*{prev}'] * 9)}]"
       for prev, name in zip("abcdefgh", "bcdefghi", strict=False)])
BOMB = f"metadata:\n  uid: bomb\n  name: bomb\nspec:\n  parameters:\n{LAUGHS}\n"
DEEP = '{"metadata": {"uid": "deep"}, "spec": {"parameters": {"p": ' + "[" * 150 + "]" * 150 + "}}}"
VERY_DEEP = '{"metadata": {"uid": "deep"}, "spec": {"parameters": {"p": ' + "[" * 5000 + "]" * 5000 + "}}}"
YAML_HEADERS = {"Content-Type": "application/yaml", "Accept": "application/json"}
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def test_the_bomb_is_small():
    assert len(BOMB.encode()) < 500


def _refused_fast(post, body: str, headers: dict, reason: str) -> requests.Response:
    started = time.monotonic()
    answer = post(body, headers)
    assert time.monotonic() - started < 5
    assert answer.status_code in (400, 413), answer.text[:300]
    assert len(answer.content) < 1000
    assert reason in answer.json()["error"] and "\n" not in answer.json()["error"]
    return answer


def _function_runs(work: Workdir) -> list:
    db = os.path.join(work.path, "function-home", "db")
    if not os.path.isdir(db):  # no run was ever stored there (a store named with --db must exist to be read)
        return []
    listed = mlrun_cli("get", "runs", "-o", "json", "--db", db)
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    work = Workdir(str(tmp_path_factory.mktemp("served-parsing")))
    with serving(f"{SEED_HANDLERS}:my_func", cwd=work.path, env={"MLRUN_MAX_SPEC_SIZE": "20000"}) as served:
        yield served, work


@pytest.mark.parametrize("body, headers, reason", [
    (BOMB, YAML_HEADERS, "YAML aliases that expand to"),
    (DEEP, JSON_HEADERS, "is nested too deeply: deeper than 100 levels"),
    (VERY_DEEP, JSON_HEADERS, "is nested too deeply"),
    ('{"spec": {"parameters": {"p": "' + "x" * 30_000 + '"}}}', JSON_HEADERS,
     "is larger than the limit of 20000 bytes"),
], ids=["alias-bomb", "deep-json", "very-deep-json", "oversized"])
def test_mlrun_serve_refuses_hostile_bodies_before_running(served, body, headers, reason):
    served, work = served
    _refused_fast(lambda b, h: requests.post(served.url, data=b.encode(), headers=h, timeout=30), body, headers, reason)
    assert _function_runs(work) == []  # the handler never ran, nothing was recorded
    ok = requests.post(served.url, json={"spec": {"parameters": {"p1": 2}}}, headers={"Accept": "application/json"},
                       timeout=30)
    assert ok.status_code == 200 and ok.json()["status"]["outputs"]["accuracy"] == 4  # and it keeps serving


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    store = str(tmp_path_factory.mktemp("server-parsing") / "store")
    os.environ["MLRUN_MAX_SPEC_SIZE"] = "20000"  # the server process inherits it; this one must not
    try:
        with running_server(store) as srv:
            os.environ.pop("MLRUN_MAX_SPEC_SIZE")
            yield srv
    finally:
        os.environ.pop("MLRUN_MAX_SPEC_SIZE", None)


@pytest.mark.parametrize("body, headers, reason", [
    (BOMB, YAML_HEADERS, "YAML aliases that expand to"),
    (DEEP, JSON_HEADERS, "is nested too deeply"),
    (VERY_DEEP, JSON_HEADERS, "is nested too deeply"),
    ('{"metadata": {"uid": "big"}, "spec": {"parameters": {"p": "' + "x" * 30_000 + '"}}}', JSON_HEADERS,
     "is larger than the limit of 20000 bytes"),
], ids=["alias-bomb", "deep-json", "very-deep-json", "oversized"])
def test_mlrun_server_refuses_hostile_records(server, body, headers, reason):
    _refused_fast(lambda b, h: requests.post(f"{server.url}/api/runs", data=b.encode(), headers=h, timeout=30),
                  body, headers, reason)
    assert requests.get(f"{server.url}/api/runs", timeout=10).json()["runs"] == []
    for uid in ("bomb", "deep", "big"):
        assert requests.get(f"{server.url}/api/runs/{uid}", timeout=10).status_code == 404


@pytest.mark.parametrize("method, path, body, field", [
    ("PUT", "/api/runs/shape1", {"status": {"output_artifacts": [{"key": "a", "target_path": 5}]}},
     "status.output_artifacts[0].target_path must be a string, got int"),
    ("PUT", "/api/runs/shape1", {"status": {"metrics": {"loss": 5}}}, "status.metrics.loss must be a mapping"),
    ("PUT", "/api/runs/shape1", {"metadata": {"iteration": 10 ** 30}}, "metadata.iteration must be a whole number"),
    ("POST", "/api/runs", {"metadata": {"uid": "../../x"}}, "metadata.uid '../../x'"),
    ("PATCH", "/api/runs/shape0", {"status": {"metrics": {"loss": 5}}}, "status.metrics.loss must be a mapping"),
    ("PATCH", "/api/runs/shape0", {"status": {"metrics": {"loss": {"xvalues": ["1"], "yvalues": []}}}},
     "status.metrics.loss: xvalues and yvalues must be as long as each other, got 1 and 0"),
    ("PATCH", "/api/runs/shape0", {"metadata": {"labels": {"k": [1]}}}, "metadata.labels.k must be a string"),
], ids=["target_path-5", "metric-5", "iteration-huge", "uid-path", "patch-metric-5", "patch-lengths", "label-list"])
def test_mlrun_server_refuses_records_of_the_wrong_shape(server, method, path, body, field):
    assert requests.put(f"{server.url}/api/runs/shape0", json={}, timeout=10).status_code == 200
    answer = requests.request(method, server.url + path, json=body, timeout=10)
    assert answer.status_code == 400 and field in answer.json()["error"], answer.text
    page = requests.get(f"{server.url}/runs/shape0", timeout=10)
    assert page.status_code == 200  # the stored run and its page are as they were
    assert requests.get(f"{server.url}/api/runs/shape1", timeout=10).status_code == 404


@pytest.fixture
def fresh_limits():
    from mlrun.model import spec_limits

    spec_limits.cache_clear()
    yield
    spec_limits.cache_clear()


def test_get_or_create_ctx_applies_the_same_limits(monkeypatch, fresh_limits):
    with pytest.raises(LimitExceededError, match="YAML aliases"):
        get_or_create_ctx("bomb", spec=BOMB)
    with pytest.raises(InvalidSpecError, match="nested too deeply"):
        get_or_create_ctx("deep", spec=DEEP)
    monkeypatch.setenv("MLRUN_MAX_SPEC_SIZE", "1000")
    from mlrun.model import spec_limits

    spec_limits.cache_clear()
    with pytest.raises(LimitExceededError, match=r"^run spec is larger than the limit of 1000 bytes \(\$MLRUN_MAX"):
        get_or_create_ctx("big", spec=json.dumps({"spec": {"parameters": {"p": "x" * 2000}}}))


def test_the_wire_format_applies_the_same_limits():
    from mlrun.protocol import RUN_ANSWER_TYPE, read_answer, spec_from_event

    for body in (BOMB.encode(), DEEP, VERY_DEEP.encode()):
        with pytest.raises(LimitExceededError):
            spec_from_event(body)
    answer = '{"record": ' + DEEP + ', "log": ""}'
    with pytest.raises(LimitExceededError, match="^the function's answer is nested too deeply"):
        read_answer(RUN_ANSWER_TYPE, answer.encode())
    with pytest.raises(LimitExceededError, match="^the function's answer uses YAML aliases"):
        read_answer("application/yaml", BOMB.encode())


# -- the command line --------------------------------------------------------------------------------------

def _mlrun_bytes(*args, cwd: str) -> subprocess.CompletedProcess:
    """``mlrun ARGS`` with arguments given as bytes, the way a shell hands over ``$'\\xff'``."""
    return subprocess.run([sys.executable, "-m", "mlrun", *args], cwd=cwd, capture_output=True, timeout=60)


@pytest.mark.parametrize("args, culprit", [
    ([b"-p", b"p1=\xff"], b"-p: not valid UTF-8 text"),
    ([b"--label", b"k=\xff"], b"--label: not valid UTF-8 text"),
    ([b"--name", b"run-\xfe"], b"--name: not valid UTF-8 text"),
    ([b"-p", b"p1=1", b"--label", b"k\xff=v"], b"--label: not valid UTF-8 text"),
], ids=["param", "label", "name", "label-key"])
def test_arguments_that_are_not_utf8_are_refused_before_running(tmp_path, isolated_store, args, culprit):
    script = tmp_path / "touch.py"
    script.write_text("open('ran', 'w').close()\n")
    done = _mlrun_bytes(b"run", *args, str(script).encode(), cwd=str(tmp_path))
    assert done.returncode == 2 and culprit in done.stderr, done.stderr
    assert b"Traceback" not in done.stderr
    assert not (tmp_path / "ran").exists()
    assert json.loads(mlrun_cli("get", "runs", "-o", "json").stdout) == []


def test_a_file_name_that_is_not_utf8_is_refused(tmp_path, isolated_store):
    name = b"odd-\xff.py"
    with open(os.path.join(str(tmp_path).encode(), name), "w") as fp:
        fp.write("open('ran', 'w').close()\n")
    done = _mlrun_bytes(b"run", name, cwd=str(tmp_path))
    assert done.returncode == 2 and b"TARGET: not valid UTF-8 text" in done.stderr, done.stderr
    assert not (tmp_path / "ran").exists()
    assert json.loads(mlrun_cli("get", "runs", "-o", "json").stdout) == []
    served = _mlrun_bytes(b"serve", f"{SEED_HANDLERS}:my_func".encode(), b"--name", b"\xff", cwd=str(tmp_path))
    assert served.returncode == 2 and b"--name: not valid UTF-8 text" in served.stderr, served.stderr


@pytest.mark.parametrize("args, culprit", [
    (["get", "runs", "--limit", "9999999999999999999999"], "--limit"),
    (["get", "run", "abc", "--iteration", "9" * 30], "--iteration"),
    (["run", "--parallel", "9" * 20, "-x", "p=[1,2]", "x.py"], "--parallel"),
    (["run", "--max-iterations", "9" * 20, "-x", "p=[1,2]", "x.py"], "--max-iterations"),
    (["run", "--max-errors", "9" * 20, "-x", "p=[1,2]", "x.py"], "--max-errors"),
    (["run", "--seed", "9" * 30, "-x", "p=[1,2]", "x.py"], "--seed"),
], ids=["limit", "iteration", "parallel", "max-iterations", "max-errors", "seed"])
def test_absurd_numbers_are_usage_errors(tmp_path, isolated_store, args, culprit):
    done = mlrun_cli(*args, cwd=str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert f"Invalid value for '{culprit}'" in done.stderr and "is not in the range" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", [["serve", f"{SEED_HANDLERS}:my_func"], ["server"]])
def test_a_host_that_does_not_resolve_is_one_line(tmp_path, command):
    # with a token, so the refusal to serve a public address without one does not come first
    done = mlrun_cli(*command, "--host", "no.such.host.invalid", "--port", "8080", cwd=str(tmp_path),
                     env={"MLRUN_DBPATH": str(tmp_path / "db"), "MLRUN_TOKEN": "t0ken-1234",
                          "MLRUN_FUNCTION_TOKEN": "t0ken-1234"}, timeout=60)
    assert done.returncode in (1, 2)
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: cannot listen on no.such.host.invalid:8080: "), done.stderr


# -- odd text logged by code ---------------------------------------------------------------------------------

ODD = """
from mlrun import get_or_create_ctx
ctx = get_or_create_ctx("odd\\udcff")
ctx.log_output("k", "\\udcff-value")
ctx.log_output("k\\udcfe", 1)
ctx.set_label("tag", "\\udcff")
ctx.log_metric("m\\udcff", 1)
ctx.log_artifact("a.txt", body="x", description="d\\udcff", labels={"l": "\\udcff"})
ctx.commit("msg \\udcff")
"""


def test_text_that_is_not_utf8_is_recorded_escaped(tmp_path, isolated_store):
    script = tmp_path / "odd.py"
    script.write_text(ODD)
    done = mlrun_cli("run", str(script), cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "k: \\xff-value" in done.stdout and "tag: \\xff" in done.stdout
    uid = next(line.split()[-1] for line in done.stdout.splitlines() if line.strip().startswith("uid:"))
    for fmt in ("yaml", "json"):
        shown = mlrun_cli("get", "run", uid, "-o", fmt)
        assert shown.returncode == 0 and "xff-value" in shown.stdout, shown.stderr
    for fmt in ("table", "yaml", "json"):
        listed = mlrun_cli("get", "runs", "-o", fmt)
        assert listed.returncode == 0 and "odd" in listed.stdout, listed.stderr
    with running_server(isolated_store) as srv:
        for path in ("/", f"/runs/{uid}", f"/api/runs/{uid}?format=yaml", "/api/runs"):
            answer = requests.get(srv.url + path, timeout=10)
            assert answer.status_code == 200, (path, answer.text[:300])
        assert "\\xff" in requests.get(f"{srv.url}/runs/{uid}", timeout=10).text
