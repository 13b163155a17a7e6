"""The serving function object (kind ``serving``): models added, tried in process, exported, deployed, invoked.

    fn = mlrun.new_function("iris", kind="serving")
    fn.add_model("iris", model_path="store://models/default/iris")      # class: SklearnModelServer
    fn.to_mock_server().test("/v2/models/iris/infer", {"inputs": [[5.1, 3.5, 1.4, 0.2]]})
    fn.deploy()                                          # mlrun serve on loopback, with a token
    fn.invoke("/v2/models/iris/infer", {"inputs": [[5.1, 3.5, 1.4, 0.2]]})

Its YAML is MLRun 1.x's (``spec.graph``: a router of models), which ``mlrun serve`` and ``import_function`` read.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidInputError, MLRunError, MLRunInvalidArgumentError
from ..functions.base import Function
from .mock import MockServer
from .spec import KIND, ServingSpec


class ServingFunction(Function):
    """A function of kind ``serving``: a router of models behind the V2 inference protocol.

    ``ServingFunction("iris")`` is ``mlrun.new_function("iris", kind="serving")``.
    """

    kind = KIND
    label = KIND

    def __init__(self, metadata: Mapping | str | None = None, spec: Mapping | None = None,
                 status: Mapping | None = None):
        if isinstance(metadata, str):
            metadata = {"name": metadata}
        data = {"kind": KIND, "metadata": dict(metadata or {}), "spec": dict(spec or {}) if isinstance(
            spec, Mapping) else {}}
        #: the function's models (``spec.graph``)
        self.serving = ServingSpec.from_dict(data) if data["spec"].get("graph") else ServingSpec()
        if isinstance(spec, Mapping):
            spec = {k: v for k, v in spec.items() if k not in ("graph", "source")}
            self.serving.source = str(data["spec"].get("source") or "")
        super().__init__(metadata, spec, status)
        self._server = None
        self._token = ""

    def add_model(self, key: str, model_path: str = "", class_name: str | type = "", model: Any = None,
                  **class_args) -> dict:
        """Serve a model under ``key`` (``name`` or ``name:version``) with ``class_name`` (a class, its dotted path,
        or a class of ``spec.source``; default ``SklearnModelServer``); a ``store://`` model URI, a file, a folder or
        a URL as ``model_path``, or a ``model`` object already loaded; ``class_args`` for the class."""
        return self.serving.add_model(key, model_path, class_name, model, **class_args)

    def to_mock_server(self, **kwargs) -> MockServer:
        """The function in this process, every model loaded: ``server.test(path, body)`` answers as served."""
        return MockServer(self._spec().build_router())

    def _spec(self) -> ServingSpec:
        self.serving.name = self.metadata.name
        return self.serving

    def to_dict(self, strip: bool = False) -> dict:
        data = super().to_dict(strip)
        serving = self._spec().to_dict()["spec"]
        data["spec"] = {**data["spec"], **serving}
        return data

    def export(self, target: str = "", format: str = ".yaml", secrets: Mapping | None = None,
               strip: bool = True) -> ServingFunction:
        """Write the function's YAML (``mlrun serve`` serves it); a model handed over as an object cannot go."""
        if any("model" in route for route in self.serving.routes.values()):
            raise InvalidInputError("a model handed over as an object cannot be exported: give its model_path")
        super().export(target, format, secrets, strip)
        return self

    def deploy(self, project: str = "", tag: str = "", verbose: bool = False, allow: tuple = ()) -> str:
        """Serve the function with ``mlrun serve`` on loopback with a new token, until this process ends (or
        ``stop()``); its address (also ``fn.status.address``).

        The models named here may be read (this process's user named them); ``allow``: more places they
        may read (``mlrun serve --allow``).
        """
        from ..config import home_dir
        from .deploy import serve_locally

        self.stop()
        self.metadata.project = project or self.metadata.project
        self.metadata.tag = tag or self.metadata.tag
        path = os.path.join(home_dir(), "functions", self.metadata.name or "serving", "function.yaml")
        self.export(path)
        from .models import model_location

        named = [where for where in map(model_location, self.serving.model_paths()) if "://" not in where]
        self._server, address, self._token = serve_locally(path, [*named, *allow], verbose)
        self.status.address, self.status.state = address, "ready"
        self.status.external_invocation_urls = [address]
        return address

    def stop(self) -> None:
        """Stop the function ``deploy`` serves on this machine (if it does)."""
        from ..functions.nuclio import stop_server

        server, self._server = self._server, None
        if server is not None:
            stop_server(server)
            self.status.state, self.status.address, self.status.external_invocation_urls = "stopped", "", []

    def invoke(self, path: str = "/v2/models/", body: Any = None, method: str = "", headers: Mapping | None = None,
               **kwargs) -> Any:
        """Call the deployed function: the decoded JSON answer; an error answer raises ``ServingError``."""
        if not self.status.address:
            raise MLRunError(f"serving function {self.metadata.name!r} is not deployed: call deploy() first")
        from .deploy import invoke

        sent = {**({"Authorization": f"Bearer {self._token}"} if self._token else {}), **dict(headers or {})}
        return invoke(self.status.address, path, body, method, sent)

    def _run_target(self, handler, local: bool, init_args=None) -> dict:
        raise MLRunInvalidArgumentError("a serving function serves models: try it with to_mock_server(), or "
                                        "deploy() it and invoke() its routes")
