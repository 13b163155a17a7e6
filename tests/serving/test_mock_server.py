"""Serving functions in process: the V2 routes of `to_mock_server()`, model server classes, specs."""
from __future__ import annotations

import os
import sys

import pytest
import yaml
from serving_helpers import SKLEARN_SERVER, sample_rows, train

import mlrun
from mlrun.errors import AccessDeniedError, InvalidInputError, InvalidSpecError, MLRunError
from mlrun.policy import AccessPolicy
from mlrun.serving import ServingError, ServingSpec, V2ModelServer


class Doubler(V2ModelServer):
    """No model file: predictions are the inputs doubled, shaped by pre- and postprocess."""

    def load(self):
        self.model = self.get_param("factor", 2)

    def preprocess(self, request, operation):
        request["inputs"] = [x for x in request["inputs"] if x is not None]
        return request

    def predict(self, request):
        return [x * self.model for x in request["inputs"]]

    def postprocess(self, response):
        response["outputs"] = {"doubled": response["outputs"]}
        return response

    def op_count(self, request):
        return {"count": len(request.get("inputs", []))}


class Broken(V2ModelServer):
    def predict(self, request):
        raise RuntimeError("secret internals /srv/model")


@pytest.fixture
def iris_fn(tmp_path):
    model, path = train(str(tmp_path / "models"))
    fn = mlrun.new_function("iris", kind="serving")
    fn.add_model("iris", model_path=path, class_name=SKLEARN_SERVER)
    return fn, model


def test_a_pickled_sklearn_model_answers_infer_with_its_own_predictions(iris_fn):
    fn, model = iris_fn
    server = fn.to_mock_server()
    rows = sample_rows()
    answer = server.test("/v2/models/iris/infer", {"id": "req-1", "inputs": rows})
    assert answer["outputs"] == model.predict(rows).tolist()
    assert len(set(answer["outputs"])) == 3  # the rows were told apart
    assert (answer["id"], answer["model_name"], answer["model_version"]) == ("req-1", "iris", None)
    assert answer["timestamp"].startswith("20")
    # /predict and a bare POST on the model are infer too; an id is made when the request has none
    assert server.test("/v2/models/iris/predict", {"inputs": rows})["outputs"] == answer["outputs"]
    generated = server.test("/v2/models/iris", {"inputs": rows})
    assert generated["outputs"] == answer["outputs"] and len(generated["id"]) == 32


def test_list_metadata_ready_and_explain_routes(iris_fn):
    fn, model = iris_fn
    server = fn.to_mock_server()
    assert server.test("/v2/models/") == {"models": ["iris"]}
    assert server.test("/v2/models") == {"models": ["iris"]}
    assert server.test("/v2/models/iris") == {"name": "iris", "version": "", "inputs": [], "outputs": []}
    assert server.test("/v2/models/iris/ready") == {"name": "iris", "version": "", "ready": True}
    explained = server.test("/v2/models/iris/explain", {"inputs": sample_rows()[:2]})
    assert explained["outputs"]["feature_weights"] == model.coef_.tolist()
    assert explained["outputs"]["probabilities"] == model.predict_proba(sample_rows()[:2]).tolist()


def test_models_by_name_and_version_with_pre_and_postprocessing_and_custom_operations():
    fn = mlrun.new_function("calc", kind="serving")
    fn.add_model("double:v1", class_name=Doubler)
    fn.add_model("double:v2", class_name=Doubler, factor=3)
    fn.add_model("other", class_name=Doubler, factor=10)
    server = fn.to_mock_server()
    assert server.test("/v2/models/") == {"models": ["double", "other"]}
    v1 = server.test("/v2/models/double/versions/v1/infer", {"inputs": [1, None, 2]})
    assert v1["outputs"] == {"doubled": [2, 4]} and v1["model_version"] == "v1"
    assert server.test("/v2/models/double/versions/v2/infer", {"inputs": [1]})["outputs"] == {"doubled": [3]}
    assert server.test("/v2/models/double/infer", {"inputs": [1]})["model_version"] == "v2"  # the last added
    assert server.test("/v2/models/double/versions/v1") == {"name": "double", "version": "v1", "inputs": [],
                                                             "outputs": []}
    assert server.test("/v2/models/other/count", {"inputs": [1, 2, 3]}) == {"count": 3}


@pytest.mark.parametrize("body, fragment", [
    (b"{not json", "the request body is not JSON"),
    (b"\xff\xfe", "the request body is not JSON"),
    (b"", "the request body is empty"),
    ([1, 2], 'must be a JSON object with "inputs", got list'),
    ({"rows": [[1, 2, 3, 4]]}, 'the request has no "inputs"'),
    ({"inputs": "5.1,3.5"}, '"inputs" must be a list, got str'),
    ({"inputs": [[1, 2]]}, "X has 2 features"),
    ({"inputs": [["a", "b", "c", "d"]]}, "cannot infer"),
    (b"[" * 100_000 + b"]" * 100_000, "the request body is not JSON"),
])
def test_bad_bodies_get_400_with_one_line(iris_fn, body, fragment):
    fn, _ = iris_fn
    status, message = fn.to_mock_server().test("/v2/models/iris/infer", body, method="POST", get_body=False)
    assert status == 400 and fragment in message, message
    assert "\n" not in message and "Traceback" not in message


@pytest.mark.parametrize("path, method, status, fragment", [
    ("/v2/models/nope/infer", "POST", 404, "model 'nope' not found (served: iris)"),
    ("/v2/models/iris/versions/v9/infer", "POST", 404, "model 'iris:v9' not found"),
    ("/v2/models/iris/frobnicate", "POST", 404, "has no operation 'frobnicate'"),
    ("/v2/models/iris/infer/more", "POST", 404, "no such path"),
    ("/other", "GET", 404, "no such path"),
    ("/v2/models/iris/infer", "GET", 405, "takes POST, not GET"),
    ("/v2/models/iris/ready", "POST", 405, "takes GET, not POST"),
])
def test_unknown_models_paths_and_methods_are_refused_by_name(iris_fn, path, method, status, fragment):
    fn, _ = iris_fn
    with pytest.raises(ServingError) as caught:
        fn.to_mock_server().test(path, {"inputs": [[1, 2, 3, 4]]} if method == "POST" else None, method=method)
    assert caught.value.status == status and fragment in str(caught.value)


def test_a_model_without_explain_and_a_failing_model_answer_without_internals():
    fn = mlrun.new_function("calc", kind="serving")
    fn.add_model("double", class_name=Doubler)
    fn.add_model("broken", class_name=Broken)
    server = fn.to_mock_server()
    assert server.test("/v2/models/double/explain", {"inputs": [1]}, get_body=False) == (
        404, "model 'double' has no explain operation")
    status, message = server.test("/v2/models/broken/infer", {"inputs": [1]}, get_body=False)
    assert (status, message) == (500, "model 'broken' failed to infer: RuntimeError")


def test_the_spec_round_trips_through_yaml_and_serves_from_its_file(tmp_path, iris_fn):
    fn, model = iris_fn
    path = str(tmp_path / "function.yaml")
    fn.export(path)
    data = yaml.safe_load((tmp_path / "function.yaml").read_text())
    route = data["spec"]["graph"]["routes"]["iris"]
    assert data["kind"] == "serving" and data["metadata"]["name"] == "iris"
    assert route == {"kind": "task", "class_name": SKLEARN_SERVER,
                     "class_args": {"model_path": str(tmp_path / "models" / "model.pkl")}}
    spec = ServingSpec.from_file(path)
    assert spec.to_dict()["spec"]["graph"] == data["spec"]["graph"]
    imported = mlrun.import_function(path)  # MLRun 1.x's function YAML: the kind's class comes back
    assert type(imported).__name__ == "ServingFunction" and imported.to_dict(strip=True) == data
    rows = sample_rows()
    answer = spec.build_router().handle("POST", "/v2/models/iris/infer", {"inputs": rows})
    assert answer[0] == 200 and answer[1]["outputs"] == model.predict(rows).tolist()


def test_a_relative_model_path_and_a_class_of_the_source_file_are_read_beside_the_spec(tmp_path):
    folder = tmp_path / "fn"
    train(str(folder / "models"))
    (folder / "servers.py").write_text(
        "from mlrun.frameworks.sklearn import SklearnModelServer\n\n"
        "class Labelled(SklearnModelServer):\n"
        "    def postprocess(self, response):\n"
        "        response['outputs'] = [['setosa', 'versicolor', 'virginica'][i] for i in response['outputs']]\n"
        "        return response\n")
    (folder / "function.yaml").write_text(yaml.safe_dump({
        "kind": "serving", "metadata": {"name": "named"}, "spec": {"source": "servers.py", "graph": {
            "kind": "router", "routes": {"iris": {"class_name": "Labelled",
                                                   "class_args": {"model_path": "models"}}}}}}))
    router = ServingSpec.from_file(str(folder / "function.yaml")).build_router()
    status, answer = router.handle("POST", "/v2/models/iris/infer", {"inputs": sample_rows()[:3]})
    assert status == 200 and answer["outputs"] == ["setosa", "versicolor", "virginica"]


@pytest.mark.parametrize("data, fragment", [
    ({"kind": "job"}, "not a serving function"),
    ({"kind": "serving", "spec": {"graph": {"routes": []}}}, "spec.graph.routes must be a mapping, got list"),
    ({"kind": "serving", "spec": {"graph": {"routes": {"m": {"class_args": "x"}}}}},
     "spec.graph.routes.m.class_args must be a mapping"),
])
def test_a_malformed_spec_is_refused_naming_the_field(data, fragment):
    with pytest.raises(InvalidSpecError, match=fragment):
        ServingSpec.from_dict(data)


@pytest.mark.parametrize("class_name, fragment", [
    ("NoSuchClass", "class 'NoSuchClass' not found"),
    ("mlrun.serving.nope.Server", "no module 'mlrun.serving.nope'"),
    ("mlrun.serving.spec.ServingSpec", "is not a V2ModelServer class"),
])
def test_a_class_that_is_not_a_model_server_is_refused_by_name(class_name, fragment):
    fn = mlrun.new_function("x", kind="serving")
    fn.add_model("m", class_name=class_name)
    with pytest.raises(InvalidInputError, match=fragment):
        fn.to_mock_server()


def test_model_keys_and_empty_functions_are_checked():
    fn = mlrun.new_function("x", kind="serving")
    with pytest.raises(InvalidInputError, match="NAME or NAME:VERSION"):
        fn.add_model("a/b")
    with pytest.raises(InvalidInputError, match="has no models"):
        fn.to_mock_server()


def test_a_model_outside_the_policy_or_over_the_size_limit_is_never_read(tmp_path, iris_fn, monkeypatch):
    fn, _ = iris_fn
    model_file = str(tmp_path / "models" / "model.pkl")
    elsewhere = AccessPolicy.serving([], str(tmp_path / "out"), str(tmp_path / "fn"))
    with pytest.raises(AccessDeniedError, match=f"not allowed to read {model_file}"):
        fn.serving.build_router(policy=elsewhere)
    allowed = AccessPolicy.serving([str(tmp_path / "models")], str(tmp_path / "out"), str(tmp_path / "fn"))
    assert fn.serving.build_router(policy=allowed).names() == ["iris"]
    monkeypatch.setenv("MLRUN_SERVING_MAX_MODEL_SIZE", "100")
    with pytest.raises(InvalidInputError, match=r"over the limit of 100 \(\$MLRUN_SERVING_MAX_MODEL_SIZE\)"):
        fn.to_mock_server()


def test_a_model_that_fails_to_load_is_named(tmp_path):
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    fn = mlrun.new_function("x", kind="serving")
    fn.add_model("junk", model_path=str(tmp_path / "junk.pkl"))
    with pytest.raises(MLRunError, match="model 'junk' could not be loaded: "):
        fn.to_mock_server()
    os.remove(tmp_path / "junk.pkl")
    with pytest.raises(MLRunError, match="model 'junk': "):
        fn.to_mock_server()


def test_a_model_object_handed_over_is_served_but_not_exported(tmp_path):
    model, _ = train(str(tmp_path))
    fn = mlrun.new_function("live", kind="serving")
    fn.add_model("iris", model=model)
    rows = sample_rows()
    answer = fn.to_mock_server().test("/v2/models/iris/infer", {"inputs": rows})
    assert answer["outputs"] == model.predict(rows).tolist()
    with pytest.raises(InvalidInputError, match="cannot be exported"):
        fn.export(str(tmp_path / "f.yaml"))


def test_a_missing_framework_names_the_extra_that_provides_it(tmp_path, monkeypatch):
    _, path = train(str(tmp_path))
    monkeypatch.setitem(sys.modules, "joblib", None)  # as if scikit-learn (and its joblib) were not installed
    fn = mlrun.new_function("x", kind="serving")
    fn.add_model("iris", model_path=path)
    with pytest.raises(ImportError, match=r"model 'iris' \(SklearnModelServer\) needs joblib; install it with: "
                                          r"pip install \"mlrun-lite\[sklearn\]\""):
        fn.to_mock_server()
