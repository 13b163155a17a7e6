"""Typed ``key=value`` pairs, as given on the command line (``-p p1=5``, ``--label k=v``)."""
from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from .errors import InvalidInputError

_WORDS = {"true": True, "false": False, "null": None, "none": None}


def parse_value(text: str) -> Any:
    """Type a command-line value: int, float, bool, null, a JSON list or mapping, else the string itself.

    ``5`` -> 5, ``0.5`` -> 0.5, ``true``/``True`` -> True, ``null``/``None`` -> None,
    ``[1, 2]`` -> [1, 2], ``{"a": 1}`` -> {"a": 1}; anything else (``abc``, ``[a,b]``) stays a string.
    Python-literal lists and mappings (``['a', 1]``) are accepted too.
    """
    lowered = text.strip().lower()
    if lowered in _WORDS:
        return _WORDS[lowered]
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # deeply nested brackets are text, not a crash
        value = _python_literal(text)
        if value is None:
            return text
    if isinstance(value, float) and not math.isfinite(value):
        return text  # NaN/Infinity would not survive a round trip through YAML comparisons
    return value


def _python_literal(text: str) -> Any:
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{(":
        return None
    import ast

    try:
        value = ast.literal_eval(stripped)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return list(value) if isinstance(value, tuple) else value if isinstance(value, (list, dict)) else None


def split_pair(text: str, option: str = "-p") -> tuple[str, str]:
    """Split ``key=value``; the key must be non-empty."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise InvalidInputError(f"{option} {text!r}: expected key=value")
    return key, value


def parse_pairs(items: Iterable[str], option: str = "-p", typed: bool = True) -> dict:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}`` (values typed unless ``typed=False``)."""
    result = {}
    for item in items:
        key, value = split_pair(item, option)
        result[key] = parse_value(value) if typed else value
    return result
