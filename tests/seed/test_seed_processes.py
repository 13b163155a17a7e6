"""Unknown fields across processes: ``mlrun run`` (a warning in the run's log, ``--strict`` refuses), ``mlrun serve``
(the warning reaches the caller in the answer's log; ``--strict`` answers 400) and ``mlrun server`` (a record from
an old client is stored without the field, the warning in the server's log)."""
import json
import textwrap

import pytest
import requests
from helpers import mlrun_cli
from remote.remote_helpers import serving
from server.server_process import running_server

from mlrun.protocol import RUN_ANSWER_TYPE
from mlrun.rundb import get_run_db

WARNING = "metadata.lables is not a known field (did you mean labels?): left out of the record"
TYPO_SCRIPT = """
    from mlrun import get_or_create_ctx

    ctx = get_or_create_ctx('typo', spec={'metadata': {'lables': {'team': 'ml'}}, 'spec': {'parameters': {'p1': 4}}})
    ctx.log_output('accuracy', ctx.get_param('p1') * 2)
    ctx.commit()
    own = get_or_create_ctx('own')
    own.log_output('typo_accuracy', ctx.outputs['accuracy'])
"""


def test_mlrun_run_warns_and_goes_on(tmp_path):
    (tmp_path / "typo.py").write_text(textwrap.dedent(TYPO_SCRIPT))
    result = mlrun_cli("run", "typo.py", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"UnknownFieldWarning: {WARNING}" in result.stderr
    runs = {run["name"]: run for run in get_run_db().list_runs()}
    assert runs["typo"]["outputs"] == {"accuracy": 8} and runs["own"]["outputs"] == {"typo_accuracy": 8}
    assert "lables" not in str(get_run_db().read_run_data(runs["typo"]["uid"]))
    assert WARNING in get_run_db().read_log(runs["own"]["uid"]).decode()  # the launched run's log keeps it


@pytest.mark.parametrize("how", [["--strict"], ["MLRUN_STRICT_SPEC=1"]])
def test_mlrun_run_strict_refuses_the_unknown_field(tmp_path, how):
    (tmp_path / "typo.py").write_text(textwrap.dedent(TYPO_SCRIPT))
    options = [o for o in how if o.startswith("--")]
    env = dict(o.split("=", 1) for o in how if "=" in o)
    result = mlrun_cli("run", *options, "typo.py", cwd=str(tmp_path), env=env)
    assert result.returncode == 1
    (run,) = get_run_db().list_runs()
    assert run["state"] == "error"
    assert "metadata.lables is not a known field (did you mean labels?)" in run["error"]
    assert "UnknownFieldWarning" not in result.stderr


HANDLER = """
    def handler(ctx):
        ctx.log_output('p1', ctx.get_param('p1'))
"""


@pytest.mark.parametrize("strict", [False, True])
def test_mlrun_serve_tells_the_caller(tmp_path, strict):
    (tmp_path / "fn.py").write_text(textwrap.dedent(HANDLER))
    body = {"metadata": {"name": "r", "lables": {"a": "b"}}, "spec": {"parameters": {"p1": 3}}}
    with serving("fn.py:handler", *(["--strict"] if strict else []), cwd=str(tmp_path)) as served:
        answer = requests.post(served.url, json=body, headers={"Accept": RUN_ANSWER_TYPE}, timeout=30)
        again = requests.post(served.url, json=body, headers={"Accept": RUN_ANSWER_TYPE}, timeout=30)
    if strict:
        assert answer.status_code == 400
        assert answer.json() == {"error": "metadata.lables is not a known field (did you mean labels?)"}
        return
    assert answer.status_code == 200, answer.text
    for response in (answer, again):  # each run's log, not only the first's
        data = response.json()
        assert data["record"]["status"]["outputs"] == {"p1": 3} and "lables" not in json.dumps(data["record"])
        assert data["log"].count(WARNING) == 1


def test_mlrun_server_stores_a_record_from_an_old_client_without_the_field(tmp_path):
    record = {"metadata": {"uid": "old1", "name": "old", "lables": {"a": "b"}}, "kind": "run",
              "spec": {"input_artifacts": [{"key": "k", "path": "p"}]}, "status": {"state": "completed"}}
    with running_server(str(tmp_path / "store")) as server:
        response = requests.put(server.url + "/api/runs/old1", json=record, timeout=10)
        assert response.status_code == 200, response.text
        stored = requests.get(server.url + "/api/runs/old1", timeout=10).json()
        log = server.log()
    assert stored["metadata"]["name"] == "old" and "lables" not in stored["metadata"] and "kind" not in stored
    assert stored["spec"]["input_objects"] == [{"key": "k", "path": "p"}] and "input_artifacts" not in stored["spec"]
    assert WARNING in log and "kind is not a known section" not in log  # MLRun 1.x's kind: run is no stranger
