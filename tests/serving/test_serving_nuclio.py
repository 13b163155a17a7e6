"""A serving function as nuclio runs it: the bundle `function-config --bundle` writes for a serving function's
YAML, run by the nuclio wrapper harness (msgpack events over unix sockets, nuclio_sdk objects)."""
from __future__ import annotations

import json
import os

import pytest
import yaml
from helpers import mlrun_cli
from nuclio_harness import NuclioProcessor
from serving_helpers import sample_rows, train, write_spec


@pytest.fixture
def bundle(tmp_path):
    """``mlrun function-config function.yaml --bundle DIR`` for a function serving a pickled model; ``(DIR, model)``."""
    folder = tmp_path / "fn"
    model, _ = train(str(folder / "models"))
    write_spec(str(folder), "models/model.pkl")
    directory = tmp_path / "bundle"
    result = mlrun_cli("function-config", str(folder / "function.yaml"), "--bundle", str(directory), cwd=str(folder))
    assert result.returncode == 0, result.stderr
    return directory, model


def test_the_bundle_carries_the_model_the_spec_and_a_serving_handler(bundle):
    directory, _ = bundle
    config = yaml.safe_load((directory / "function.yaml").read_text())
    spec = yaml.safe_load((directory / "serving.yaml").read_text())
    assert config["metadata"]["name"] == "iris" and config["spec"]["handler"] == "serving_handler:handler"
    assert {"name": "MLRUN_SERVING_SPEC", "value": "/opt/nuclio/serving.yaml"} in config["spec"]["env"]
    assert any("[s3,sklearn]" in command for command in config["spec"]["build"]["commands"])
    route = spec["spec"]["graph"]["routes"]["iris"]
    assert route["class_args"]["model_path"] == "models/iris/model.pkl"
    assert (directory / "models" / "iris" / "model.pkl").is_file()


@pytest.mark.parametrize("decode", [True, False], ids=["decoded-strings", "bytes-strings"])
def test_nuclio_serves_the_v2_routes_with_the_models_own_predictions(bundle, decode):
    directory, model = bundle
    rows = sample_rows()
    env = {"MLRUN_SERVING_SPEC": str(directory / "serving.yaml"), "MLRUN_SERVE_ALLOW": ""}
    with NuclioProcessor("serving_handler:handler", str(directory), decode_strings=decode, env=env) as nuclio:
        listed = nuclio.call(method="GET", path="/v2/models/")
        ready = nuclio.call(method="GET", path="/v2/models/iris/ready")
        decoded = nuclio.call(json.dumps({"inputs": rows}).encode(), content_type="application/json",
                              path="/v2/models/iris/infer")
        raw = nuclio.call(json.dumps({"inputs": rows}).encode(), content_type="text/plain",
                          path="/v2/models/iris/predict")
        explained = nuclio.call(json.dumps({"inputs": rows[:1]}).encode(), content_type="application/json",
                                path="/v2/models/iris/explain")
        bad = nuclio.call(b"{oops", content_type="text/plain", path="/v2/models/iris/infer")
        wrong = nuclio.call(b'{"inputs": 5}', content_type="application/json", path="/v2/models/iris/infer",
                            headers={"Accept": "application/json"})
    assert (listed.status, json.loads(listed.body)) == (200, {"models": ["iris"]})
    assert json.loads(ready.body)["ready"] is True
    for answer in (decoded, raw):
        assert answer.status == 200 and answer.content_type == "application/json", answer.text
        assert json.loads(answer.body)["outputs"] == model.predict(rows).tolist()
    assert json.loads(explained.body)["outputs"]["feature_weights"] == model.coef_.tolist()
    assert bad.status == 400 and bad.text.startswith("the request body is not JSON") and bad.text.count("\n") == 1
    assert wrong.status == 400 and "must be a list" in json.loads(wrong.body)["error"]


def test_a_model_outside_the_functions_policy_stops_the_worker_at_init(tmp_path):
    _, path = train(str(tmp_path / "elsewhere"))
    folder = tmp_path / "fn"
    folder.mkdir()
    write_spec(str(folder), path)
    env = {"MLRUN_SERVING_SPEC": str(folder / "function.yaml"), "MLRUN_SERVE_ALLOW": "",
           "MLRUN_OUT_PATH": str(tmp_path / "out")}
    code = "import serving_handler, types; ctx = types.SimpleNamespace(user_data=types.SimpleNamespace())\n" \
           "serving_handler.init_context(ctx)"
    (folder / "serving_handler.py").write_text("from mlrun.serving.nuclio import handler, init_context\n")
    from helpers import run_python

    result = run_python(code, cwd=str(folder), env={**os.environ, **env, "PYTHONPATH": str(folder)})
    assert result.returncode == 1
    assert f"AccessDeniedError: model 'iris': not allowed to read {path}" in result.stderr.strip().splitlines()[-1]
