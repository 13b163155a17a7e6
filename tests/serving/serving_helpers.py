"""Shared pieces of the serving tests: a scikit-learn model trained on iris, saved as a pickle, and its rows."""
from __future__ import annotations

import os
import pickle

SKLEARN_SERVER = "mlrun.frameworks.sklearn.SklearnModelServer"


def iris():
    """The iris features and labels (shipped with scikit-learn: nothing downloaded)."""
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


def train(folder: str, name: str = "model.pkl"):
    """A logistic regression trained on iris, pickled into ``folder``: ``(model, its file)``."""
    from sklearn.linear_model import LogisticRegression

    features, labels = iris()
    model = LogisticRegression(max_iter=1000).fit(features, labels)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    with open(path, "wb") as fp:
        pickle.dump(model, fp)
    return model, path


def sample_rows() -> list[list[float]]:
    """One row of each class and two in between: predictions that differ."""
    features, _ = iris()
    return features[[0, 50, 100, 70, 120]].tolist()


def write_spec(folder: str, model_path: str, key: str = "iris", class_name: str = SKLEARN_SERVER) -> str:
    """A serving function's YAML serving ``model_path`` as ``key``; its path."""
    import yaml

    spec = {"kind": "serving", "metadata": {"name": "iris"},
            "spec": {"graph": {"kind": "router", "routes": {
                key: {"kind": "task", "class_name": class_name, "class_args": {"model_path": model_path}}}}}}
    path = os.path.join(folder, "function.yaml")
    with open(path, "w") as fp:
        yaml.safe_dump(spec, fp)
    return path


def log_iris_model(project: str = "serving", rundb: str = "", artifact_path: str = "") -> tuple:
    """Train on iris in a run that logs the model (``context.log_model``); ``(model, its store:// URI)``."""
    import mlrun

    features, labels = iris()
    trained = {}

    def trainer(context):
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(max_iter=1000).fit(features, labels)
        trained["model"] = model
        context.log_model("iris", body=pickle.dumps(model), model_file="iris.pkl", framework="sklearn",
                          metrics={"accuracy": float(model.score(features, labels))},
                          inputs=[{"name": n} for n in ("sepal_length", "sepal_width", "petal_length", "petal_width")],
                          outputs=[{"name": "label"}])

    run = mlrun.new_function("trainer").run(handler=trainer, local=True, project=project, rundb=rundb,
                                            artifact_path=artifact_path)
    return trained["model"], run.outputs["iris"]
