"""Serving functions under `mlrun serve` (a real process on 127.0.0.1): the V2 routes over HTTP, the same
token, size limit and access policy as every served function, `serve-model`, and `fn.deploy()`/`fn.invoke()`."""
from __future__ import annotations

import sys

import pytest
import requests
from helpers import free_port, mlrun_cli
from remote_helpers import serving
from serving_helpers import SKLEARN_SERVER, sample_rows, train, write_spec

import mlrun
from mlrun.serving import ServingError

TOKEN = "serving-token-5d2c"


@pytest.fixture
def function_dir(tmp_path):
    """A serving function's folder: the spec and its model beside it; ``(folder, model)``."""
    folder = tmp_path / "fn"
    model, path = train(str(folder / "models"))
    write_spec(str(folder), "models/model.pkl")
    return folder, model


def test_mlrun_serve_answers_the_v2_routes_with_the_models_own_predictions(function_dir):
    folder, model = function_dir
    rows = sample_rows()
    with serving(str(folder / "function.yaml"), cwd=str(folder)) as served:
        base = served.url + "/v2/models"
        assert requests.get(base + "/", timeout=10).json() == {"models": ["iris"]}
        assert requests.get(base + "/iris", timeout=10).json()["name"] == "iris"
        assert requests.get(base + "/iris/ready", timeout=10).json()["ready"] is True
        answer = requests.post(base + "/iris/infer", json={"id": "r1", "inputs": rows}, timeout=10)
        explained = requests.post(base + "/iris/explain", json={"inputs": rows[:1]}, timeout=10).json()
        bad = requests.post(base + "/iris/infer", data=b"{oops", timeout=10)
        bad_json = requests.post(base + "/iris/infer", json={"inputs": 3}, timeout=10,
                                 headers={"Accept": "application/json"})
        missing = requests.post(base + "/nope/infer", json={"inputs": rows}, timeout=10)
        too_large = requests.post(base + "/iris/infer", data=b" " * (4 * 1024 * 1024 + 1), timeout=30)
        assert requests.get(served.url + "/healthz", timeout=10).json() == {"status": "ok"}
        output = served.stop()
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    assert answer.json()["outputs"] == model.predict(rows).tolist() and answer.json()["id"] == "r1"
    assert explained["outputs"]["feature_weights"] == model.coef_.tolist()
    assert bad.status_code == 400 and bad.text.startswith("the request body is not JSON") and bad.text.count("\n") == 1
    assert bad_json.status_code == 400 and bad_json.json() == {"error": 'model \'iris\' cannot infer: "inputs" must '
                                                                        'be a list, got int'}
    assert missing.status_code == 404 and "model 'nope' not found" in missing.text
    assert too_large.status_code == 413 and "larger than the limit of 4194304 bytes" in too_large.text
    assert '"POST /v2/models/iris/infer HTTP/1.1" 200' in output and "Traceback" not in output


def test_serve_model_serves_one_model_file_by_its_name(tmp_path):
    model, path = train(str(tmp_path / "models"), "iris.pkl")
    rows = sample_rows()
    command = [sys.executable, "-m", "mlrun", "serve-model", path, "--class", SKLEARN_SERVER]  # the port: from env
    with serving("", cwd=str(tmp_path), command=command) as served:
        answer = requests.post(served.url + "/v2/models/iris/infer", json={"inputs": rows}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"] == model.predict(rows).tolist()


def test_a_token_is_required_off_loopback_and_checked_on_every_model_route(function_dir):
    folder, model = function_dir
    spec = str(folder / "function.yaml")
    for command in (["serve", spec], ["serve-model", str(folder / "models" / "model.pkl")]):
        refused = mlrun_cli(*command, "--host", "0.0.0.0", "--port", str(free_port()), cwd=str(folder),
                            env={"MLRUN_FUNCTION_TOKEN": ""})
        assert refused.returncode == 2
        assert refused.stderr.strip().splitlines()[-1].endswith(
            "refusing to listen on 0.0.0.0 without a token: set $MLRUN_FUNCTION_TOKEN or --token, or pass --insecure")
    with serving(spec, cwd=str(folder), env={"MLRUN_FUNCTION_TOKEN": TOKEN}) as served:
        url = served.url + "/v2/models/iris/infer"
        without = requests.post(url, json={"inputs": sample_rows()}, timeout=10)
        wrong = requests.get(served.url + "/v2/models/", headers={"Authorization": "Bearer nope"}, timeout=10)
        right = requests.post(url, json={"inputs": sample_rows()}, headers={"Authorization": f"Bearer {TOKEN}"},
                              timeout=10)
        health = requests.get(served.url + "/healthz", timeout=10)
    assert without.status_code == 401 and without.text.strip() == "missing or wrong bearer token"
    assert wrong.status_code == 401 and right.status_code == 200 and health.status_code == 200


def test_a_model_outside_the_policy_is_refused_before_the_port_opens(tmp_path):
    _, path = train(str(tmp_path / "elsewhere"))
    folder = tmp_path / "fn"
    folder.mkdir()
    spec = write_spec(str(folder), path)
    refused = mlrun_cli("serve", spec, "--port", str(free_port()), cwd=str(folder))
    assert refused.returncode == 1, refused.stderr
    # the function may read its own folder and write its own output path: nothing else (and the refusal names
    # no folder of the operator's)
    assert refused.stderr.strip() == f"Error: model 'iris': not allowed to read {path}: outside what the operator " \
                                     "allowed"
    with serving(spec, "--allow", str(tmp_path / "elsewhere"), cwd=str(folder)) as served:
        assert requests.get(served.url + "/v2/models/iris/ready", timeout=10).status_code == 200


def test_deploy_serves_the_function_locally_and_invoke_calls_it_with_its_token(tmp_path):
    model, path = train(str(tmp_path / "models"))
    fn = mlrun.new_function("iris-deployed", kind="serving")
    fn.add_model("iris", model_path=path, class_name=SKLEARN_SERVER)
    rows = sample_rows()
    address = fn.deploy()  # the model it names may be read
    try:
        assert address.startswith("http://127.0.0.1:")
        assert fn.invoke("/v2/models/")["models"] == ["iris"]
        assert fn.invoke("/v2/models/iris/infer", {"inputs": rows})["outputs"] == model.predict(rows).tolist()
        assert requests.get(address + "/v2/models/", timeout=10).status_code == 401  # the token it was given
        with pytest.raises(ServingError) as caught:
            fn.invoke("/v2/models/iris/infer", {"inputs": "x"})
        assert caught.value.status == 400 and "must be a list" in str(caught.value)
    finally:
        fn.stop()
    with pytest.raises(Exception, match="not deployed"):
        fn.invoke("/v2/models/")
