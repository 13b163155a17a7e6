"""The serving function object: models added, tried in process, exported, deployed and invoked.

    fn = ServingFunction("iris")                         # mlrun.new_function("iris", kind="serving")
    fn.add_model("iris", model_path="store://models/default/iris")
    fn.to_mock_server().test("/v2/models/iris/infer", {"inputs": [[5.1, 3.5, 1.4, 0.2]]})
    fn.deploy()                                          # mlrun serve on loopback, with a token
    fn.invoke("/v2/models/iris/infer", {"inputs": [[5.1, 3.5, 1.4, 0.2]]})
"""
from __future__ import annotations

import os
from typing import Any

from ..errors import InvalidInputError, MLRunError
from .mock import MockServer
from .spec import KIND, ServingSpec


class ServingFunction:
    """A function of kind ``serving``: a router of models behind the V2 inference protocol."""

    kind = KIND

    def __init__(self, name: str = "", project: str = "", tag: str = "", image: str = "", source: str = ""):
        self.spec = ServingSpec(name, source=source)
        self.project, self.tag, self.image = project, tag, image
        #: the served function's address once deployed
        self.address = ""
        self._process = None
        self._token = ""

    @property
    def name(self) -> str:
        return self.spec.name

    def add_model(self, key: str, model_path: str = "", class_name: str | type = "", model: Any = None,
                  **class_args) -> dict:
        """Serve a model under ``key`` (``name`` or ``name:version``): see ``ServingSpec.add_model``."""
        return self.spec.add_model(key, model_path, class_name, model, **class_args)

    def to_mock_server(self, **kwargs) -> MockServer:
        """The function in this process, every model loaded: ``server.test(path, body)`` answers as served."""
        return MockServer(self.spec.build_router())

    def to_dict(self) -> dict:
        data = self.spec.to_dict()
        meta = data["metadata"]
        for key in ("project", "tag"):
            if getattr(self, key):
                meta[key] = getattr(self, key)
        if self.image:
            data["spec"]["image"] = self.image
        return data

    def to_yaml(self) -> str:
        from ..model import dump_yaml

        return dump_yaml(self.to_dict())

    def export(self, target: str = "") -> str:
        """Write the function's YAML to ``target`` (default ``function.yaml``, or any data URL); the target."""
        from ..datastore import get_item

        if any("model" in route for route in self.spec.routes.values()):
            raise InvalidInputError("a model handed over as an object cannot be exported: give its model_path")
        target = target or "function.yaml"
        get_item(target).put(self.to_yaml())
        return target

    def deploy(self, port: int = 0, allow: list[str] | None = None) -> str:
        """Serve the function with ``mlrun serve`` on loopback with a new token, until this process ends
        (or ``undeploy``); its address.

        The models named here may be read (this process's user named them); ``allow``: more places they
        may read (``mlrun serve --allow``).
        """
        from .deploy import serve_locally

        self.undeploy()
        folder = os.path.join(_functions_dir(), self.name or "serving")
        os.makedirs(folder, exist_ok=True)
        self.export(os.path.join(folder, "function.yaml"))
        named = [path for path in self.spec.model_paths() if "://" not in path]
        self._process, self.address, self._token = serve_locally(os.path.join(folder, "function.yaml"), port,
                                                                 [*named, *(allow or [])])
        return self.address

    def undeploy(self) -> None:
        """Stop the function ``deploy`` started."""
        if self._process is not None:
            from .deploy import stop

            stop(self._process)
        self._process, self.address = None, ""

    def invoke(self, path: str = "/v2/models/", body: Any = None, method: str = "", headers: dict | None = None) -> Any:
        """Call the deployed function: the decoded JSON answer; an error answer raises ``ServingError``."""
        if not self.address:
            raise MLRunError(f"serving function {self.name!r} is not deployed: call deploy() first")
        from .deploy import invoke

        return invoke(self.address, path, body, method, {**({"Authorization": f"Bearer {self._token}"}
                                                           if self._token else {}), **(headers or {})})


def _functions_dir() -> str:
    from ..config import home_dir

    return os.path.join(home_dir(), "functions")
