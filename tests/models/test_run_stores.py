"""A scikit-learn model and a dataset named by store:// URIs, resolved through every run store back end (SQLite,
S3 on a moto server, PostgreSQL, a real ``mlrun server``): get_model in process and ``mlrun run -i`` in another
process give the same predictions as the model trained; the consumer's lineage names the exact version; the
listing filters, ``mlrun get artifacts`` and ``GET /api/artifacts`` find them."""
import pickle
from contextlib import contextmanager

import numpy as np
import pytest
import requests
from helpers import mlrun_cli
from server_process import running_server
from test_models import iris, train

import mlrun
import mlrun.rundb
from mlrun.artifacts import get_model

CONSUMER = '''
import pickle
from mlrun.artifacts import get_model
from sklearn.datasets import load_iris

def predict(context, model, data):
    model_file, artifact, extra = get_model(model)
    classifier = pickle.load(open(model_file, "rb"))
    features = data.as_df()
    context.log_output("predictions", classifier.predict(features.drop(columns=["label"])).tolist())
    context.log_output("accuracy", artifact.metrics["accuracy"])
'''


@contextmanager
def run_store(kind, tmp_path, request):
    """``(run store URL, artifact path)`` of one back end, alive while the block runs."""
    if kind == "sqlite":
        yield str(tmp_path / "db"), str(tmp_path / "art")
    elif kind == "s3":
        moto = request.getfixturevalue("s3_env")
        bucket = moto.make_bucket()
        yield f"s3://{bucket}/runs", f"s3://{bucket}/artifacts"
    elif kind == "postgres":
        yield request.getfixturevalue("pg_url"), str(tmp_path / "art")
    else:
        with running_server(str(tmp_path / "server-store"), args=("--artifact-root", str(tmp_path))) as server:
            yield server.url, str(tmp_path / "art")


@pytest.mark.parametrize("kind", ["sqlite", "s3", "postgres", "http"])
def test_a_model_resolves_by_store_uri_on_every_run_store(kind, tmp_path, request, monkeypatch):
    with run_store(kind, tmp_path, request) as (dbpath, artifact_path):
        monkeypatch.setenv("MLRUN_DBPATH", dbpath)
        mlrun.rundb._cache.clear()
        producer = mlrun.run_start(handler=train, params={"c": 0.5}, project="iris", artifact_path=artifact_path)
        assert producer.state() == "completed", producer.error
        features, labels = iris()
        trained = pickle.loads(producer.artifact("classifier").get())

        model_file, model, extra = get_model("store://models/iris/classifier:latest")
        with open(model_file, "rb") as fp:
            assert np.array_equal(pickle.load(fp).predict(features), trained.predict(features))
        assert model.metrics == {"accuracy": trained.score(features, labels)}
        assert extra["classes.txt"].get() == b"setosa\nversicolor\nvirginica\n"

        (tmp_path / "consumer.py").write_text(CONSUMER)
        done = mlrun_cli("run", str(tmp_path / "consumer.py"), "--handler", "predict", "--project", "iris", "-q",
                         "-i", "model=store://models/iris/classifier", "-i", f"data={producer.outputs['iris']}",
                         cwd=str(tmp_path))
        assert done.returncode == 0, done.stderr
        db = mlrun.get_run_db()
        consumer = next(r for r in db.list_runs(project="iris") if r["name"] == "consumer")
        record = db.read_run(consumer["uid"])
        assert record.status.outputs["predictions"] == trained.predict(features).tolist()
        assert record.status.outputs["accuracy"] == model.metrics["accuracy"]
        read = {entry["key"]: entry for entry in record.status.input_objects}
        assert read["model"]["uid"] == producer.uid
        assert read["model"]["sha256"] == producer.artifact("classifier")["sha256"]
        assert read["data"]["url"] == producer.outputs["iris"]
        assert read["data"]["sha256"] == producer.artifact("iris")["sha256"]

        models = db.list_artifacts(project="iris", category="model")
        assert [(a["key"], a["uid"]) for a in models] == [("classifier", producer.uid)]
        assert {a["key"] for a in db.list_artifacts(project="iris", kind="dataset")} == {"iris", "sample"}
        assert [a["key"] for a in db.list_artifacts(project="iris", category="other")] == []
        listed = mlrun_cli("get", "artifacts", "--project", "iris", "--kind", "model", "--tag", "latest")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[1].split() == ["classifier", "model", str(models[0]["size"]),
                                                         producer.outputs["classifier"]]
        if kind == "http":
            answer = requests.get(f"{dbpath}/api/artifacts", params={"category": "dataset", "project": "iris",
                                                                      "tag": "latest"}, timeout=30).json()
            assert sorted(a["key"] for a in answer["artifacts"]) == ["iris", "sample"]
            assert answer["artifacts"][0]["schema"]["fields"][0] == {"name": "sepal length (cm)", "type": "float64"}
            bad = requests.get(f"{dbpath}/api/artifacts", params={"category": "nope"}, timeout=30)
            assert bad.status_code == 400 and "category must be one of" in bad.json()["error"]
        mlrun.rundb._cache.clear()
