"""A serving function's spec: its models (key -> class, model path, class arguments), as MLRun 1.x writes it.

    kind: serving
    metadata: {name: iris}
    spec:
      source: models.py          # optional: a file whose classes ``class_name`` may name
      graph:
        kind: router
        routes:
          iris:                  # or iris:v2 (name:version)
            kind: task
            class_name: mlrun.frameworks.sklearn.SklearnModelServer
            class_args: {model_path: ./model.pkl}

``build_router`` makes the model servers and loads every model, once, before the first request.  Relative
model paths and ``source`` are read from the spec file's folder.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidInputError, InvalidSpecError, MLRunError, error_message
from ..policy import absolute
from ..registry import missing_extra
from .router import ModelRouter, split_key
from .v2 import V2ModelServer

KIND = "serving"
#: the class ``serve-model`` and ``add_model`` use when none is named
DEFAULT_CLASS = "mlrun.frameworks.sklearn.SklearnModelServer"


class ServingSpec:
    """The models of a serving function (``routes``: key -> ``{"class_name", "class_args"}``)."""

    def __init__(self, name: str = "", routes: Mapping[str, dict] | None = None, source: str = "", base_dir: str = ""):
        self.name = name
        self.routes: dict[str, dict] = {key: dict(route) for key, route in (routes or {}).items()}
        self.source = source
        #: the folder relative paths are read from (the spec file's)
        self.base_dir = base_dir
        #: classes handed over as objects (in this process), by route key
        self.classes: dict[str, type] = {}
        self._source_module = None

    def add_model(self, key: str, model_path: str = "", class_name: str | type = "", model: Any = None,
                  **class_args) -> dict:
        """Serve a model under ``key`` (``name`` or ``name:version``) with ``class_name`` (a class, or its
        dotted path or a name in ``source``; default ``SklearnModelServer``); its route."""
        name, version = split_key(key)
        if not name or "/" in key or not all(part.replace("-", "").replace("_", "").replace(".", "").isalnum()
                                             for part in (name, version or "v")):
            raise InvalidInputError(f"model key {key!r} must be NAME or NAME:VERSION (letters, digits, '-', '_', '.')")
        args = dict(class_args)
        if model_path:  # a local path made absolute: the spec may be exported and served from elsewhere
            args["model_path"] = absolute(str(model_path))
        route = {"kind": "task", "class_name": _class_path(class_name) or DEFAULT_CLASS, "class_args": args}
        if isinstance(class_name, type):
            self.classes[key] = class_name
        if model is not None:
            self.classes.setdefault(key, _class_of(route, self, key))
            route["model"] = model
        self.routes[key] = route
        return route

    def to_dict(self) -> dict:
        """The function as MLRun 1.x exports it (``kind: serving``), models loaded in-process left out."""
        routes = {key: {k: v for k, v in route.items() if k != "model"} for key, route in self.routes.items()}
        spec: dict = {"graph": {"kind": "router", "routes": routes}}
        if self.source:
            spec = {"source": self.source, **spec}
        return {"kind": KIND, "metadata": {"name": self.name}, "spec": spec}

    def to_yaml(self) -> str:
        from ..model import dump_yaml

        return dump_yaml(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping, base_dir: str = "", what: str = "serving spec") -> ServingSpec:
        """The spec of ``data`` (a function dict, ``kind: serving``); ``InvalidSpecError`` naming the bad field."""
        if not isinstance(data, Mapping) or data.get("kind") != KIND:
            raise InvalidSpecError(f"{what} is not a serving function (kind: {KIND})", "kind")
        spec = _mapping(data.get("spec"), "spec", what)
        graph = _mapping(spec.get("graph"), "spec.graph", what)
        routes = _mapping(graph.get("routes"), "spec.graph.routes", what)
        for key, route in routes.items():
            route = _mapping(route, f"spec.graph.routes.{key}", what)
            if not isinstance(route.get("class_name", ""), str):
                raise InvalidSpecError(f"{what}: spec.graph.routes.{key}.class_name must be text", "class_name")
            _mapping(route.get("class_args"), f"spec.graph.routes.{key}.class_args", what)
        name = str(_mapping(data.get("metadata"), "metadata", what).get("name") or "")
        return cls(name, routes, str(spec.get("source") or ""), base_dir)

    @classmethod
    def from_file(cls, path: str) -> ServingSpec:
        """The spec in the YAML (or JSON) file ``path``; its relative paths are read from the file's folder."""
        from ..model import parse_struct

        try:
            with open(path, "rb") as fp:
                text = fp.read()
        except OSError as exc:
            raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from None
        return cls.from_dict(parse_struct(text, path), os.path.dirname(os.path.abspath(path)), path)

    def source_module(self):
        """The module of the ``source`` file, run once per spec."""
        from ..loader import import_file

        if self._source_module is None:
            self._source_module = import_file(self._path(self.source))
        return self._source_module

    def model_paths(self) -> list[str]:
        """Every model path, relative ones made absolute from ``base_dir``."""
        return [self._path(route["class_args"]["model_path"]) for route in self.routes.values()
                if route.get("class_args", {}).get("model_path")]

    def _path(self, path: str) -> str:
        if "://" in path or os.path.isabs(os.path.expanduser(path)) or not self.base_dir:
            return path
        return os.path.join(self.base_dir, path)

    def build_router(self, policy=None, context=None) -> ModelRouter:
        """The model servers, every model loaded (``policy``: what they may read; ``None``: anything).

        A model that cannot be loaded is an ``MLRunError`` naming it: nothing is served half-loaded.
        """
        if not self.routes:
            raise InvalidInputError(f"serving function {self.name or ''!r} has no models: add_model() first")
        router = ModelRouter()
        for key, route in self.routes.items():
            name, version = split_key(key)
            args = dict(route.get("class_args") or {})
            if args.get("model_path"):
                args["model_path"] = self._path(str(args["model_path"]))
            server_class = self.classes.get(key) or _class_of(route, self, key)
            try:
                server = server_class(context, name=name, version=version, model=route.get("model"),
                                      policy=policy, **args)
                server.post_init()
            except MLRunError as exc:
                raise type(exc)(f"model {key!r}: {exc}") from None
            except ModuleNotFoundError as exc:  # the class's framework is not installed: name the extra
                raise (missing_extra(exc, f"model {key!r} ({server_class.__name__})") or exc) from None
            except Exception as exc:  # the model's own code: one line naming the model
                raise MLRunError(f"model {key!r} could not be loaded: {error_message(exc)}") from None
            router.add(server)
        return router


def _mapping(value: Any, field: str, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidSpecError(f"{what}: {field} must be a mapping, got {type(value).__name__}", field)
    return dict(value)


def _class_path(class_name: str | type) -> str:
    if isinstance(class_name, type):
        return f"{class_name.__module__}.{class_name.__qualname__}"
    return class_name or ""


def _class_of(route: dict, spec: ServingSpec, key: str) -> type:
    """The model server class a route names: a dotted path (``package.module.Class``), or a name in the
    spec's ``source`` file."""
    import importlib

    class_name = route.get("class_name") or DEFAULT_CLASS
    module_name, _, attr = class_name.rpartition(".")
    try:
        if spec.source:
            found = getattr(spec.source_module(), class_name, None)
            if found is not None:
                return _checked(found, class_name, key)
        if not module_name:
            raise InvalidInputError(f"model {key!r}: class {class_name!r} not found "
                                    f"({'not in ' + spec.source if spec.source else 'name it as module.Class'})")
        return _checked(getattr(importlib.import_module(module_name), attr), class_name, key)
    except ModuleNotFoundError as exc:
        raise (missing_extra(exc, f"model {key!r} ({class_name})")
               or InvalidInputError(f"model {key!r}: class {class_name!r}: no module {exc.name!r}")) from None
    except AttributeError:
        raise InvalidInputError(f"model {key!r}: class {class_name!r} not found in {module_name}") from None


def _checked(found: Any, class_name: str, key: str) -> type:
    if not (isinstance(found, type) and issubclass(found, V2ModelServer)):
        raise InvalidInputError(f"model {key!r}: {class_name} is not a V2ModelServer class")
    return found
