"""The model server class of MLRun's V2 inference protocol: subclass it, load a model, predict.

    class MyModel(V2ModelServer):
        def load(self):
            model_file, extra_data = self.get_model(".pkl")
            with open(model_file, "rb") as fp:
                self.model = pickle.load(fp)

        def predict(self, request):
            return self.model.predict(request["inputs"]).tolist()

A request (``{"id": ..., "inputs": [...]}``) goes through ``preprocess``, ``validate``, ``predict`` (or
``explain``) and ``postprocess``, as MLRun 1.x runs them; ``op_<name>(request)`` methods are further
operations (``POST /v2/models/<model>/<name>``).  Class arguments (``add_model(key, ..., threshold=0.5)``)
are read with ``get_param``.
"""
from __future__ import annotations

import os
from typing import Any

from ..errors import InvalidInputError, MLRunError

#: the largest model file a served function loads (bytes); ``$MLRUN_SERVING_MAX_MODEL_SIZE`` changes it
MAX_MODEL_SIZE_ENV = "MLRUN_SERVING_MAX_MODEL_SIZE"
DEFAULT_MAX_MODEL_SIZE = 2 * 1024 ** 3


class ServingError(MLRunError, RuntimeError):
    """A request a model server refused or failed (``status``: the HTTP status it is answered with)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def max_model_size() -> int:
    """The model size limit in bytes (``$MLRUN_SERVING_MAX_MODEL_SIZE``, default 2 GiB)."""
    text = os.environ.get(MAX_MODEL_SIZE_ENV, "")
    try:
        return int(text) if text else DEFAULT_MAX_MODEL_SIZE
    except ValueError:
        raise InvalidInputError(f"${MAX_MODEL_SIZE_ENV} must be a number of bytes, got {text!r}") from None


class V2ModelServer:
    """One model behind the V2 protocol: ``load()`` sets ``self.model``, ``predict(request)`` returns the outputs.

    ``model_path`` is where ``get_model`` finds the model (a file, a folder, a URL or a ``store://``
    model URI); ``model`` an object already loaded (then ``load`` need not do anything).  ``policy``
    (set by whoever serves it) is what a served function may read; ``None``: anything.
    """

    def __init__(self, context=None, name: str = "", model_path: str = "", model: Any = None, version: str = "",
                 policy=None, **class_args):
        self.context = context
        self.name = name
        self.version = version
        self.model_path = model_path
        self.model = model
        self.class_args = class_args
        self.policy = policy
        #: the model's artifact (a mapping) when ``model_path`` was a ``store://`` URI
        self.model_spec: Any = None
        self.ready = False

    def get_param(self, key: str, default: Any = None) -> Any:
        """A class argument (``add_model(key, ..., **class_args)``), else ``default``."""
        return self.class_args.get(key, default)

    def get_model(self, suffix: str = "") -> tuple[str, dict]:
        """``(model file, extra data items)`` for ``model_path``: a local file ready to load.

        A folder gives its one file ending in ``suffix``; a ``store://`` URI is resolved through the run
        store (its artifact becomes ``self.model_spec``).  Served, the path must be allowed by the
        function's policy; a file over ``$MLRUN_SERVING_MAX_MODEL_SIZE`` is refused before it is read.
        """
        from .models import fetch_model

        model_file, self.model_spec, extra = fetch_model(self.model_path, suffix, self.policy, max_model_size())
        return model_file, extra

    def load(self) -> None:
        """Load the model into ``self.model`` (override it; by default ``model`` was given already)."""

    def post_init(self) -> None:
        """Load once, before the first request (the router calls it)."""
        if not self.ready:
            self.load()
            self.ready = True

    def preprocess(self, request: dict, operation: str) -> dict:
        """The request before ``validate`` and ``predict`` (override to reshape inputs)."""
        return request

    def validate(self, request: dict, operation: str) -> None:
        """Refuse a request (raise ``ValueError``: a 400 naming the problem): ``inputs`` must be a list."""
        inputs = request.get("inputs")
        if inputs is None:
            raise InvalidInputError('the request has no "inputs"')
        if not isinstance(inputs, list):
            raise InvalidInputError(f'"inputs" must be a list, got {type(inputs).__name__}')

    def predict(self, request: dict) -> Any:
        """The outputs for ``request["inputs"]`` (override)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement predict()")

    def explain(self, request: dict) -> Any:
        """An explanation of the outputs for ``request["inputs"]`` (override to offer ``/explain``)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement explain()")

    def postprocess(self, response: dict) -> dict:
        """The response before it is sent (override to reshape outputs)."""
        return response

    def has_explain(self) -> bool:
        return type(self).explain is not V2ModelServer.explain

    def run(self, request: dict, operation: str = "infer") -> dict:
        """``request`` through the chain of ``operation`` (``infer`` or ``explain``): the response."""
        from ..model import now_iso

        request = self.preprocess(request, operation)
        self.validate(request, operation)
        outputs = self.explain(request) if operation == "explain" else self.predict(request)
        response = {"id": request.get("id") or _new_id(), "model_name": self.name, "outputs": outputs,
                    "timestamp": now_iso(), "model_version": self.version or None}
        return self.postprocess(response)


def _new_id() -> str:
    import uuid

    return uuid.uuid4().hex
