"""Models: a scikit-learn model logged with metrics and extra data, read back with get_model by store:// URI."""
import pickle

import numpy as np
import pytest
import yaml

import mlrun
from mlrun.artifacts import ModelArtifact, get_model, update_model
from mlrun.errors import InvalidInputError


def train(context, c: float = 1.0):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, labels = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(C=c, max_iter=500).fit(features, labels)
    context.log_dataset("iris", features.assign(label=labels))
    context.log_model("classifier", body=pickle.dumps(model), model_file="classifier.pkl", framework="sklearn",
                      algorithm="LogisticRegression", metrics={"accuracy": model.score(features, labels)},
                      parameters={"C": c}, training_set=features.assign(label=labels), label_column="label",
                      extra_data={"classes.txt": b"setosa\nversicolor\nvirginica\n",
                                  "training": context.log_dataset("sample", features.head(10))},
                      labels={"team": "iris"})


def iris():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True, as_frame=True)


def check_model_reads_back(uri: str, run) -> None:
    """get_model(uri): the same predictions as the model trained, its metrics, parameters and extra data."""
    model_file, model_artifact, extra = get_model(uri)
    with open(model_file, "rb") as fp:
        model = pickle.load(fp)
    features, labels = iris()
    produced = pickle.loads(run.artifact("classifier").get())
    assert np.array_equal(model.predict(features), produced.predict(features))
    assert isinstance(model_artifact, ModelArtifact) and model_artifact.framework == "sklearn"
    assert model_artifact.metrics == {"accuracy": produced.score(features, labels)}
    assert model_artifact.parameters == {"C": 0.5} and model_artifact.spec.model_file == "classifier.pkl"
    assert [f["name"] for f in model_artifact.outputs] == ["label"] and len(model_artifact.inputs) == 4
    assert extra["classes.txt"].get().decode().split() == ["setosa", "versicolor", "virginica"]
    assert extra["training"].as_df().shape == (10, 4)


def test_a_model_logged_reads_back_by_store_uri(tmp_path):
    run = mlrun.run_start(handler=train, params={"c": 0.5}, project="iris", artifact_path=str(tmp_path / "out"))
    assert run.state() == "completed", run.error
    uri = run.outputs["classifier"]
    assert uri == f"store://models/iris/classifier:latest@{run.uid}"
    check_model_reads_back(uri, run)
    check_model_reads_back("store://models/iris/classifier", run)
    check_model_reads_back(str(tmp_path / "out" / "classifier"), run)  # the model's folder, by its spec


def test_model_spec_yaml_is_laid_out_as_mlrun_1x_writes_it(tmp_path):
    run = mlrun.run_start(handler=train, params={"c": 0.5}, project="iris", artifact_path=str(tmp_path / "out"))
    folder = tmp_path / "out" / "classifier"
    assert sorted(p.name for p in folder.iterdir()) == ["classes.txt", "classifier.pkl", "model_spec.yaml"]
    spec = yaml.safe_load((folder / "model_spec.yaml").read_text())
    assert spec["kind"] == "model" and spec["status"] == {"state": "created"}
    assert spec["metadata"]["key"] == "classifier" and spec["metadata"]["project"] == "iris"
    assert spec["metadata"]["tree"] == run.uid and spec["metadata"]["labels"] == {"team": "iris"}
    assert spec["spec"]["model_file"] == "classifier.pkl" and spec["spec"]["target_path"] == f"{folder}/"
    assert spec["spec"]["framework"] == "sklearn" and spec["spec"]["algorithm"] == "LogisticRegression"
    assert spec["spec"]["extra_data"]["classes.txt"] == f"{folder}/classes.txt"
    assert spec["spec"]["extra_data"]["training"] == run.outputs["sample"]


def test_update_model_adds_metrics_and_extra_data(tmp_path):
    run = mlrun.run_start(handler=train, params={"c": 0.5}, project="iris", artifact_path=str(tmp_path / "out"))
    _, model, _ = get_model(run.outputs["classifier"])
    update_model(model, metrics={"f1": 0.9}, extra_data={"notes.md": b"# notes"}, labels={"stage": "prod"})
    _, again, extra = get_model("store://models/iris/classifier")
    assert again.metrics["f1"] == 0.9 and "accuracy" in again.metrics and again.labels["stage"] == "prod"
    assert extra["notes.md"].get() == b"# notes"
    spec = yaml.safe_load((tmp_path / "out" / "classifier" / "model_spec.yaml").read_text())
    assert spec["spec"]["metrics"]["f1"] == 0.9


def test_get_model_of_a_plain_file_and_bad_inputs(tmp_path):
    (tmp_path / "m.pkl").write_bytes(b"x")
    assert get_model(str(tmp_path / "m.pkl")) == (str(tmp_path / "m.pkl"), None, {})
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "model.bin").write_bytes(b"y")
    assert get_model(str(tmp_path / "folder"), suffix=".bin")[0] == str(tmp_path / "folder" / "model.bin")
    run = mlrun.run_start(handler=train, params={"c": 0.5}, project="iris")
    with pytest.raises(InvalidInputError, match="is a dataset artifact, not a model"):
        get_model(run.outputs["iris"])

    def bad(context):
        context.log_model("m")

    failed = mlrun.run_start(handler=bad)
    assert failed.state() == "error" and "model 'm' needs a body" in failed.error
