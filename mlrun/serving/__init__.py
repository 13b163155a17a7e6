"""Model serving with MLRun's V2 inference protocol.

    fn = mlrun.new_function("iris", kind="serving")          # a mlrun.serving.ServingFunction
    fn.add_model("iris", model_path="model.pkl", class_name="mlrun.frameworks.sklearn.SklearnModelServer")
    server = fn.to_mock_server()
    server.test("/v2/models/iris/infer", {"inputs": [[5.1, 3.5, 1.4, 0.2]]})

The same function is served by ``mlrun serve function.yaml`` (or ``mlrun serve-model MODEL``), in the
container image, and on nuclio (``mlrun.serving.nuclio``).  Modules: ``v2`` (the model server class),
``router`` (the protocol's routes), ``spec`` (a function's models), ``models`` (finding model files),
``mock`` (in process), ``function`` (the function object), ``app`` (the WSGI app), ``nuclio``.
"""
from __future__ import annotations

from .function import ServingFunction
from .mock import MockServer
from .router import ModelRouter
from .spec import ServingSpec
from .v2 import ServingError, V2ModelServer

__all__ = ["MockServer", "ModelRouter", "ServingError", "ServingFunction", "ServingSpec", "V2ModelServer"]
