"""Turn an incoming event (nuclio event, Flask request, bytes, text or a mapping) into a run spec.

The body is the run spec as JSON or YAML.  Secret values travel in its dedicated top-level
``secrets`` field: they are split off here and never become part of the record.
"""
from __future__ import annotations

from typing import Any

from ..errors import InvalidSpecError
from ..model import parse_struct

#: the request field that carries secret values; never recorded, never echoed
SECRETS_FIELD = "secrets"


def spec_from_event(event: Any) -> tuple[dict, dict]:
    """``(spec, secrets)`` from an event; ``InvalidSpecError`` when the body is not a run spec."""
    body = getattr(event, "body", event)
    if callable(getattr(event, "get_data", None)):  # a Flask/werkzeug request
        body = event.get_data()
    if body is None or body == b"" or body == "":
        return {}, {}
    data = dict(body) if isinstance(body, dict) else parse_struct(body, "request body")
    secrets = data.pop(SECRETS_FIELD, None) or {}
    if not isinstance(secrets, dict):
        raise InvalidSpecError(f"{SECRETS_FIELD} must be a mapping of names to values", SECRETS_FIELD)
    return data, {str(k): str(v) for k, v in secrets.items()}
