"""Models logged by a run (`context.log_model`), served by their store:// URI: in process, by `mlrun serve-model`,
and deployed with `fn.deploy()`; the predictions are the trained model's own."""
from __future__ import annotations

import sys

import pytest
import requests
from remote_helpers import serving
from serving_helpers import SKLEARN_SERVER, log_iris_model, sample_rows

import mlrun
from mlrun.errors import AccessDeniedError
from mlrun.policy import AccessPolicy


@pytest.fixture
def logged(tmp_path):
    return log_iris_model()


def test_a_logged_model_is_served_by_its_store_uri_with_its_features(logged):
    model, uri = logged
    assert uri.startswith("store://models/serving/iris")
    fn = mlrun.new_function("iris", kind="serving")
    fn.add_model("iris", model_path=uri, class_name=SKLEARN_SERVER)
    server = fn.to_mock_server()
    rows = sample_rows()
    assert server.test("/v2/models/iris/infer", {"inputs": rows})["outputs"] == model.predict(rows).tolist()
    metadata = server.test("/v2/models/iris")
    assert [f["name"] for f in metadata["inputs"]] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert [f["name"] for f in metadata["outputs"]] == ["label"]
    spec = server.router.servers[("iris", "")].model_spec
    assert spec.metrics["accuracy"] > 0.9  # the model's artifact, as get_model gives it


def test_a_store_uri_is_checked_by_the_policy_on_the_file_it_names(logged, tmp_path):
    _, uri = logged
    fn = mlrun.new_function("iris", kind="serving")
    fn.add_model("iris", model_path=uri)
    target = mlrun.get_dataitem(uri).url
    elsewhere = AccessPolicy.serving([], str(tmp_path / "out"), str(tmp_path / "fn"))
    with pytest.raises(AccessDeniedError, match=f"not allowed to read {target}"):
        fn.serving.build_router(policy=elsewhere)


def test_serve_model_serves_a_store_uri_from_the_run_store(logged, tmp_path, isolated_store):
    model, uri = logged
    rows = sample_rows()
    command = [sys.executable, "-m", "mlrun", "serve-model", uri]
    with serving("", cwd=str(tmp_path), command=command, env={"MLRUN_DBPATH": isolated_store}) as served:
        listed = requests.get(served.url + "/v2/models/", timeout=10).json()
        answer = requests.post(served.url + "/v2/models/iris/infer", json={"inputs": rows}, timeout=10)
    assert listed == {"models": ["iris"]}
    assert answer.status_code == 200 and answer.json()["outputs"] == model.predict(rows).tolist()


def test_deploy_and_invoke_a_logged_model(logged):
    model, uri = logged
    fn = mlrun.new_function("iris-logged", kind="serving")
    fn.add_model("iris", model_path=uri)
    fn.deploy()  # the served function resolves the URI in the same run store ($MLRUN_DBPATH)
    try:
        rows = sample_rows()
        assert fn.invoke("/v2/models/iris/infer", {"inputs": rows})["outputs"] == model.predict(rows).tolist()
    finally:
        fn.stop()


def test_a_project_makes_a_serving_function_that_serves_its_logged_model(logged, tmp_path):
    model, uri = logged
    project = mlrun.new_project("serving", str(tmp_path))
    fn = project.set_function(name="iris-serving", kind="serving")
    fn.add_model("iris", model_path=uri, class_name=SKLEARN_SERVER)
    assert project.get_function("iris-serving") is fn and fn.metadata.project == "serving"
    rows = sample_rows()
    assert fn.to_mock_server().test("/v2/models/iris/infer", {"inputs": rows})["outputs"] == \
        model.predict(rows).tolist()
