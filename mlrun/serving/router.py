"""The V2 inference protocol's routes over a set of model servers, by name and version.

    GET  /v2/models/                                   {"models": [names]}
    GET  /v2/models/<name>[/versions/<v>]              {"name", "version", "inputs", "outputs"}
    GET  /v2/models/<name>[/versions/<v>]/ready        {"name", "version", "ready": true}  (503 while not)
    POST /v2/models/<name>[/versions/<v>]/infer        {"inputs": [...]} -> {"id", "model_name", "outputs",
         (also /predict, and POST on the model's path)   "timestamp", "model_version"}
    POST /v2/models/<name>[/versions/<v>]/explain      the same, from the server's ``explain``
    POST /v2/models/<name>[/versions/<v>]/<op>         the server's ``op_<op>(request)``

``ModelRouter.handle`` answers ``(status, data)``: data to send as JSON, or for an error one line of
text.  Whoever serves it (the mock server, ``mlrun serve``, nuclio) has checked the caller and the body's
size already.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

from ..errors import InvalidInputError, error_message
from .v2 import ServingError, V2ModelServer

PREFIX = "/v2/models"
INFER_OPS = ("infer", "predict")
#: what a model's code raises for inputs it cannot take: the caller's mistake (400), not the server's
_INPUT_ERRORS = (ValueError, TypeError, KeyError, IndexError)


def split_key(key: str) -> tuple[str, str]:
    """A route key, ``name`` or ``name:version`` -> ``(name, version)``."""
    name, _, version = key.partition(":")
    return name, version


class ModelRouter:
    """Model servers by ``(name, version)``; ``handle(method, path, body)`` answers a V2 request."""

    def __init__(self, servers: Iterable[V2ModelServer] = ()):
        self.servers: dict[tuple[str, str], V2ModelServer] = {}
        for server in servers:
            self.add(server)

    def add(self, server: V2ModelServer) -> None:
        self.servers[(server.name, server.version or "")] = server

    def names(self) -> list[str]:
        return list(dict.fromkeys(name for name, _ in self.servers))

    def handle(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """``(status, data)`` for one request; never raises for what a request carries."""
        try:
            return 200, self._route(method.upper(), path, body)
        except ServingError as exc:
            return exc.status, str(exc)

    def _route(self, method: str, path: str, body: Any) -> Any:
        parts = [part for part in path.split("?", 1)[0].split("/") if part]
        if parts[:2] != ["v2", "models"]:
            raise ServingError(f"no such path: {path} (models are under {PREFIX}/)", 404)
        if len(parts) == 2:
            _allow(method, "GET", path)
            return {"models": self.names()}
        name, rest, version = parts[2], parts[3:], ""
        if rest[:1] == ["versions"]:
            if len(rest) < 2:
                raise ServingError(f"no such path: {path} (a version follows /versions/)", 404)
            version, rest = rest[1], rest[2:]
        if len(rest) > 1:
            raise ServingError(f"no such path: {path}", 404)
        server = self._server(name, version)
        operation = rest[0] if rest else ("infer" if method == "POST" else "")
        if operation == "":
            _allow(method, "GET", path)
            return {"name": server.name, "version": server.version or "", **_signature(server)}
        if operation == "ready":
            _allow(method, "GET", path)
            if not server.ready:
                raise ServingError(f"model {server.name!r} is not ready", 503)
            return {"name": server.name, "version": server.version or "", "ready": True}
        _allow(method, "POST", path)
        request = parse_request(body)
        return _call(server, operation, request)

    def _server(self, name: str, version: str) -> V2ModelServer:
        server = self.servers.get((name, version))
        if server is None and not version:  # no version asked for: the one added last
            server = next((s for (n, _), s in reversed(self.servers.items()) if n == name), None)
        if server is None:
            known = ", ".join(f"{n}:{v}" if v else n for n, v in self.servers) or "none"
            what = f"{name}:{version}" if version else name
            raise ServingError(f"model {what!r} not found (served: {known})", 404)
        return server


def _allow(method: str, expected: str, path: str) -> None:
    if method != expected:
        raise ServingError(f"{path} takes {expected}, not {method}", 405)


def _signature(server: V2ModelServer) -> dict:
    """The model's ``inputs`` and ``outputs`` features, as its artifact records them."""
    spec = server.model_spec
    if spec is None:
        return {"inputs": [], "outputs": []}
    get = spec.get if isinstance(spec, dict) else lambda key, default=None: getattr(spec, key, default)
    return {"inputs": _plain(get("inputs", None) or []), "outputs": _plain(get("outputs", None) or [])}


def parse_request(body: Any) -> dict:
    """A request body (bytes, text or an already decoded mapping) as a mapping; a 400 naming what is wrong."""
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        if not body:
            raise ServingError('the request body is empty: send a JSON object with "inputs"')
        try:
            body = json.loads(body)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise ServingError(f"the request body is not JSON: {error_message(str(exc))}") from None
    if not isinstance(body, dict):
        raise ServingError(f'the request body must be a JSON object with "inputs", got {type(body).__name__}')
    return body


def _call(server: V2ModelServer, operation: str, request: dict) -> Any:
    if operation in INFER_OPS or operation == "explain":
        if operation == "explain" and not server.has_explain():
            raise ServingError(f"model {server.name!r} has no explain operation", 404)
        run = server.run
        args: tuple = (request, "explain" if operation == "explain" else "infer")
    else:
        run = getattr(server, f"op_{operation}", None) if operation.isidentifier() else None
        if run is None:
            raise ServingError(f"model {server.name!r} has no operation {operation!r}", 404)
        args = (request,)
    try:
        return run(*args)
    except ServingError:
        raise
    except _INPUT_ERRORS as exc:
        detail = str(exc) if isinstance(exc, InvalidInputError) else error_message(exc)
        raise ServingError(f"model {server.name!r} cannot {operation}: {detail}") from None
    except Exception as exc:  # the model's own failure: its traceback for the operator, one line for the caller
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        raise ServingError(f"model {server.name!r} failed to {operation}: {type(exc).__name__}", 500) from None


def _plain(value: Any) -> Any:
    """``value`` with array-likes (numpy) as lists and their scalars as numbers: what JSON can carry."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "to_dict"):
        return _plain(value.to_dict())
    return value


def to_json(data: Any) -> str:
    """An answer's body: ``data`` as JSON, numpy arrays and scalars as lists and numbers."""
    return json.dumps(data, default=_json_default)


def _json_default(value: Any) -> Any:
    converted = _plain(value)
    if converted is value:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return converted


def render(status: int, data: Any, accept: str = "") -> tuple[int, str, str]:
    """``(status, content type, body)`` of an answer: JSON data, or an error's one line in the form
    ``accept`` asks for (``{"error": ...}`` for JSON, else text)."""
    from ..protocol import JSON_TYPE, answer_type, render_error

    if status < 400:
        try:
            return status, JSON_TYPE, to_json(data)
        except (TypeError, ValueError) as exc:
            status, data = 500, f"the model's answer cannot be sent as JSON: {exc}"
    return (status, *render_error(data, answer_type(accept)))
