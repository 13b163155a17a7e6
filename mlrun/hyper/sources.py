"""Where sweep values come from: ``-x key=[v1,v2]`` lists, parameter files (CSV or JSON) and the Python API.

Every source becomes the same thing, a mapping of parameter names to lists of values, which the
strategies turn into iterations.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping

from ..errors import InvalidInputError
from ..params import parse_value, split_pair

#: characters a bare-word list item (``[a,b]``) may not hold: they mean a malformed list
_LIST_SYNTAX = set("[]{}\"'")


def parse_hyperparams(items: Iterable[str], option: str = "-x") -> dict[str, list]:
    """``["p1=[1,2,3]", "p2=[a,b]"]`` -> ``{"p1": [1, 2, 3], "p2": ["a", "b"]}``; values typed as ``-p`` types them."""
    hyperparams = {}
    for item in items:
        key, text = split_pair(item, option)
        hyperparams[key] = parse_list(text, f"{option} {item!r}")
    return hyperparams


def parse_list(text: str, what: str) -> list:
    """A bracketed list: JSON or Python literal (``[0.1, "a b"]``), or bare words (``[a,b]``)."""
    stripped = text.strip()
    if not (stripped.startswith("[") and stripped.endswith("]")):
        raise InvalidInputError(f"{what}: expected KEY=[v1,v2,...]")
    values = parse_value(stripped)
    if not isinstance(values, list):
        items = [item.strip() for item in stripped[1:-1].split(",")]
        if any(not item or _LIST_SYNTAX & set(item) for item in items):
            raise InvalidInputError(f"{what}: malformed list (expected [v1,v2,...])")
        values = [parse_value(item) for item in items]
    if not values:
        raise InvalidInputError(f"{what}: the list is empty")
    return values


def check_hyperparams(hyperparams: Mapping, what: str = "hyperparams") -> dict[str, list]:
    """A copy of ``{name: [values]}``, refusing anything else by name."""
    if not isinstance(hyperparams, Mapping):
        raise InvalidInputError(f"{what} must be a mapping of names to lists, got {type(hyperparams).__name__}")
    checked = {}
    for key, values in hyperparams.items():
        if not isinstance(key, str) or not key:
            raise InvalidInputError(f"{what}: parameter names must be non-empty strings, got {key!r}")
        if isinstance(values, tuple):
            values = list(values)
        if not isinstance(values, list) or not values:
            raise InvalidInputError(f"{what}[{key!r}] must be a non-empty list of values")
        checked[key] = list(values)
    return checked


def load_param_file(path: str, secrets: Mapping | None = None) -> tuple[dict[str, list], str]:
    """``(hyperparams, strategy)`` from a parameter file, local or any data-store URL.

    CSV: a header row of names, then one row per iteration (strategy ``list``).
    JSON: ``{"p1": [1, 2], ...}`` (strategy ``grid``) or ``[{"p1": 1, ...}, ...]``, one mapping per
    iteration (strategy ``list``).
    """
    from ..datastore import get_item
    from ..errors import MLRunError, NotFoundError

    kind = os.path.splitext(path)[1].lower()
    if kind not in (".csv", ".json"):
        raise InvalidInputError(f"param file {path}: unknown format (expected a .csv or .json file)")
    try:
        data = get_item(path, secrets).get()
    except (NotFoundError, FileNotFoundError):
        raise InvalidInputError(f"param file not found: {path}") from None
    except InvalidInputError:
        raise
    except (MLRunError, OSError) as exc:
        raise InvalidInputError(f"cannot read param file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"param file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if kind == ".csv":
        return _columns(_csv_rows(text, path), path), "list"
    return _json_params(text, path)


def _csv_rows(text: str, path: str) -> list[dict]:
    import csv

    lines = [line for line in csv.reader(text.splitlines()) if line]
    if len(lines) < 2:
        raise InvalidInputError(f"param file {path}: expected a header row and at least one row of values")
    header = [name.strip() for name in lines[0]]
    if not all(header) or len(set(header)) != len(header):
        raise InvalidInputError(f"param file {path}: the header row needs distinct, non-empty names")
    rows = []
    for number, cells in enumerate(lines[1:], start=2):
        if len(cells) != len(header):
            raise InvalidInputError(f"param file {path}, row {number}: {len(cells)} values for {len(header)} columns")
        rows.append({name: parse_value(cell) for name, cell in zip(header, cells, strict=False)})
    return rows


def _json_params(text: str, path: str) -> tuple[dict[str, list], str]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if hasattr(exc, "lineno") else ""
        raise InvalidInputError(f"param file {path} is not valid JSON{where}: {getattr(exc, 'msg', exc)}") from None
    if isinstance(data, dict):
        return check_hyperparams(data, f"param file {path}"), "grid"
    if isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
        return _columns(data, path), "list"
    raise InvalidInputError(f"param file {path}: expected a mapping of names to lists, or a list of mappings")


def _columns(rows: list[dict], path: str) -> dict[str, list]:
    """One mapping per iteration -> one list per parameter (the ``list`` strategy zips them back)."""
    names = list(rows[0])
    for number, row in enumerate(rows, start=1):
        if set(row) != set(names):
            raise InvalidInputError(f"param file {path}, entry {number}: has {sorted(row)}, expected {sorted(names)}")
    return check_hyperparams({name: [row[name] for row in rows] for name in names}, f"param file {path}")
