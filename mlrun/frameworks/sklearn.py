"""Serving scikit-learn models (and any pickled model with ``predict``): ``pip install 'mlrun-lite[sklearn]'``.

    fn.add_model("iris", model_path="store://models/p/iris", class_name="mlrun.frameworks.sklearn.SklearnModelServer")

The model file is read with joblib (which reads plain pickles too).  Unpickling runs code: serve only models
whose origin you trust (``model_path`` must be allowed by the function's policy when served).
"""
from __future__ import annotations

from typing import Any

from ..serving.v2 import V2ModelServer

#: the suffixes a model file of a folder may have, tried in order
MODEL_SUFFIXES = (".pkl", ".joblib", ".pickle")


class SklearnModelServer(V2ModelServer):
    """``predict``: the model's ``predict`` on ``inputs`` (a list of rows); ``explain``: what the model
    says of its features (``feature_importances_`` or ``coef_``), with ``predict_proba`` where it has one."""

    def load(self) -> None:
        if self.model is not None:
            return
        import joblib

        model_file, _ = self.get_model(self.get_param("suffix", "") or _suffix_of(self.model_path))
        self.model = joblib.load(model_file)
        if not callable(getattr(self.model, "predict", None)):
            raise ValueError(f"{model_file} holds a {type(self.model).__name__}, which has no predict()")

    def predict(self, request: dict) -> Any:
        import numpy

        return self.model.predict(numpy.asarray(request["inputs"])).tolist()

    def explain(self, request: dict) -> Any:
        import numpy

        inputs = numpy.asarray(request["inputs"])
        weights = getattr(self.model, "feature_importances_", None)
        if weights is None:
            weights = getattr(self.model, "coef_", None)
        answer: dict = {"feature_weights": None if weights is None else numpy.asarray(weights).tolist()}
        if callable(getattr(self.model, "predict_proba", None)):
            answer["probabilities"] = self.model.predict_proba(inputs).tolist()
        return answer


def _suffix_of(model_path: str) -> str:
    """``""`` for a file (any name), else the suffix of a folder's model file (``.pkl`` unless it says)."""
    import os

    if "://" in model_path or os.path.isfile(model_path):
        return ""
    if os.path.isdir(model_path):
        names = os.listdir(model_path)
        return next((s for s in MODEL_SUFFIXES if any(n.endswith(s) for n in names)), ".pkl")
    return ""
