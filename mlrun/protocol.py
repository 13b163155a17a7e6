"""HTTP events in, run records out: the wire format between an mlrun caller and a function.

The request body is the run struct as JSON (or YAML): ``{"metadata": ..., "spec": ..., "secrets": {...}}``.
Secret values travel only in its top-level ``secrets`` field: ``spec_from_event`` splits them off,
so they never become part of a record.

The answer is the run record.  Its form follows the request's ``Accept`` header: an mlrun caller
asks for ``application/vnd.mlrun.run+json`` (``{"record": ..., "log": ...}``: the record plus what
the function printed); ``application/json`` gets the record as JSON; anyone else gets it as YAML.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import InvalidSpecError
from .model import dump_yaml, parse_struct
from .secrets import mask_data, masked_json

#: the request field that carries secret values; never recorded, never echoed
SECRETS_FIELD = "secrets"
#: the answer an mlrun caller asks for: the record and the function's log
RUN_ANSWER_TYPE = "application/vnd.mlrun.run+json"
JSON_TYPE = "application/json"
YAML_TYPE = "application/yaml"
TEXT_TYPE = "text/plain; charset=utf-8"
#: the default request body limit (nuclio's default for an HTTP trigger's maxRequestBodySize)
DEFAULT_MAX_BODY_SIZE = 4 * 1024 * 1024
#: a bearer token: ``mlrun serve`` requires it and ``mlrun run URL`` sends it, when set
TOKEN_ENV = "MLRUN_FUNCTION_TOKEN"
#: how many secrets one request may carry, and how large each value may be (bytes): past either, 413
MAX_REQUEST_SECRETS_ENV, DEFAULT_MAX_REQUEST_SECRETS = "MLRUN_MAX_REQUEST_SECRETS", 256
MAX_SECRET_SIZE_ENV, DEFAULT_MAX_SECRET_SIZE = "MLRUN_MAX_SECRET_SIZE", 64 * 1024


def event_body(event: Any) -> Any:
    """The body of a nuclio event, a Flask/werkzeug request, or the event itself (bytes, text, mapping)."""
    if callable(getattr(event, "get_data", None)):  # a Flask/werkzeug request
        return event.get_data()
    return getattr(event, "body", event)


def event_header(event: Any, name: str) -> str:
    """A request header, case-insensitive; ``""`` for events without headers.

    nuclio hands over names and values as bytes when its wrapper does not decode strings
    (``NUCLIO_PYTHON_DECODE_EVENT_STRINGS`` off): both forms are read.
    """
    headers = getattr(event, "headers", None) or {}
    if hasattr(headers, "get") and not isinstance(headers, dict):  # werkzeug headers ignore case already
        return headers.get(name, "")
    lowered = name.lower()
    if isinstance(headers, dict):
        return next((_text(v) for k, v in headers.items() if _text(k).lower() == lowered), "")
    if callable(getattr(event, "get_header", None)):
        return _text(event.get_header(name) or "")
    return ""


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def spec_from_event(event: Any) -> tuple[dict, dict]:
    """``(spec, secrets)`` from an event; ``InvalidSpecError`` when the body is not a run spec.

    An empty body is an empty spec: the function runs with its defaults.  nuclio's bodies come as
    bytes, text, or a mapping it decoded already (``application/json``); a batch of events (a list)
    is refused: a run is one event.  A text body is parsed under ``parse_struct``'s limits (size,
    nesting, YAML aliases): past one, a ``LimitExceededError`` that is also an ``InvalidSpecError``,
    before anything runs.
    """
    if isinstance(event, (list, tuple)):
        raise InvalidSpecError(f"got a batch of {len(event)} events: a run takes one event (set the trigger's "
                               "batch size to 1)")
    body = event_body(event)
    if isinstance(body, (bytearray, memoryview)):
        body = bytes(body)
    if body is None or body == b"" or body == "":
        return {}, {}
    if isinstance(body, dict):
        data = dict(body)
    elif isinstance(body, (bytes, str)):
        data = parse_struct(body, "request body")
    else:
        raise InvalidSpecError(f"request body must be JSON or YAML text, got {type(body).__name__}")
    secrets = data.pop(SECRETS_FIELD, None) or {}
    if not isinstance(secrets, dict):
        raise InvalidSpecError(f"{SECRETS_FIELD} must be a mapping of names to values", SECRETS_FIELD)
    return data, _bounded_secrets(secrets)


def _bounded_secrets(secrets: dict) -> dict[str, str]:
    """A request's secrets as text, within the per-request limits (``SpecLimitError``, a 413, past one).

    The limits bound what one request makes the function hold and mask; messages name keys, never values.
    """
    from .model import SpecLimitError, _limit

    count = _limit(MAX_REQUEST_SECRETS_ENV, DEFAULT_MAX_REQUEST_SECRETS)
    if len(secrets) > count:
        raise SpecLimitError(f"{SECRETS_FIELD}: {len(secrets)} secrets, more than the limit of {count} "
                             f"(${MAX_REQUEST_SECRETS_ENV})", SECRETS_FIELD)
    size = _limit(MAX_SECRET_SIZE_ENV, DEFAULT_MAX_SECRET_SIZE)
    values = {}
    for key, value in secrets.items():
        key, value = str(key), str(value)
        if len(key) + len(value) > size // 4 and len((key + value).encode("utf-8", "surrogatepass")) > size:
            raise SpecLimitError(f"{SECRETS_FIELD}: the secret {key[:100]!r} is larger than the limit of {size} "
                                 f"bytes (${MAX_SECRET_SIZE_ENV})", SECRETS_FIELD)
        values[key] = value
    return values


def answer_type(accept: str) -> str:
    """The form of the answer a request asks for (see the module's docstring)."""
    accept = (accept or "").lower()
    if RUN_ANSWER_TYPE in accept:
        return RUN_ANSWER_TYPE
    if JSON_TYPE in accept:
        return JSON_TYPE
    return YAML_TYPE


def render_run(record: dict, log: str, content_type: str, secrets: Mapping | Iterable[str] = ()) -> str:
    """The answer body for a run record, in the form ``answer_type`` chose, ``secrets`` hidden in the record.

    ``secrets``: values, or a mapping of keys to values; hidden by the same pass as every record that
    leaves (``mlrun.secrets.mask_data``).  The log is taken as already masked (a context masks what its run printed).
    """
    if content_type == RUN_ANSWER_TYPE:
        return f'{{"record": {masked_json(record, secrets)}, "log": {json.dumps(log)}}}'
    if content_type == JSON_TYPE:
        return masked_json(record, secrets)
    return dump_yaml(mask_data(record, secrets))


def input_error_status(error: Exception) -> int:
    """The HTTP status of a request refused for what it carried: 413 past a limit, else 400."""
    from .errors import LimitExceededError

    return 413 if isinstance(error, LimitExceededError) else 400


def render_error(message: str, content_type: str) -> tuple[str, str]:
    """``(content type, body)`` for a request that produced no record (bad body, no auth, too large)."""
    if content_type in (RUN_ANSWER_TYPE, JSON_TYPE):
        return JSON_TYPE, json.dumps({"error": message})
    return TEXT_TYPE, message + "\n"


def read_answer(content_type: str, body: bytes) -> tuple[dict, str]:
    """``(record, log)`` from a function's answer: an mlrun answer, or a bare record as JSON or YAML.

    ``InvalidSpecError`` when the answer is not even a mapping (or is past ``parse_struct``'s limits: a
    ``LimitExceededError``); the caller validates the record.
    """
    data = parse_struct(body, "the function's answer")
    if (content_type or "").lower().startswith(RUN_ANSWER_TYPE):
        record, log = data.get("record"), data.get("log") or ""
        if not isinstance(record, dict) or not isinstance(log, str):
            raise InvalidSpecError("the function's answer has no run record")
        return record, log
    if data and not data.keys() & {"metadata", "spec", "status"}:  # an error body (``{"error": ...}``), not a record
        raise InvalidSpecError("the function's answer has no run record")
    return data, ""


def answer_error(body: bytes, limit: int = 300) -> str:
    """The reason given by an answer that holds no record: its ``error`` field, else its first line."""
    text = body.decode("utf-8", "replace").strip()
    try:
        message = json.loads(text).get("error") or text
    except (ValueError, AttributeError):
        message = text
    line = " ".join(str(message).split())
    return line if len(line) <= limit else line[:limit] + "..."
