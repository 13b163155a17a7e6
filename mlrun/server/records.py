"""Records as the server shows them: odd text escaped, fields the record model refuses set aside with a note.

Stores written by older versions (or by hand) can hold what today's API refuses: text that is not
valid UTF-8 (lone surrogates, as Python gives for undecodable command-line bytes), a metric that is
a bare number, ``target_path: 5``.  Pages and listings show what they can of such records rather
than fail; only writes are strict.
"""
from __future__ import annotations

import re

from ..errors import InvalidSpecError
from ..model import RunRecord

#: fields dropped from one record before giving up on repairing it field by field
_MAX_REPAIRS = 200
_INDEX = re.compile(r"\[(\d+)\]")


def clean_text(value):
    """``value`` with every string (keys too) encodable as UTF-8: lone surrogates become ``\\udcff`` escapes.

    Containers come back as they are (the same objects) when nothing needed escaping.
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        cleaned = {clean_text(k) if isinstance(k, str) else k: clean_text(v) for k, v in value.items()}
        same = len(cleaned) == len(value) and all(
            k1 is k2 and v1 is v2 for (k1, v1), (k2, v2) in zip(cleaned.items(), value.items(), strict=False))
        return value if same else cleaned
    if isinstance(value, list):
        items = [clean_text(v) if isinstance(v, (str, dict, list)) else v for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=False)) else items
    return value


def lenient_record(data) -> tuple[RunRecord, list[str]]:
    """``data`` (a stored record) as a ``RunRecord`` for display, and notes on what had to be left out.

    Each field the record model refuses is dropped (the record as stored is untouched) and noted.
    """
    notes: list[str] = []
    data = clean_text(data) if isinstance(data, dict) else {}
    try:
        return RunRecord.from_dict(data), notes
    except InvalidSpecError:
        pass
    data = _deep_copy(data)
    for _ in range(_MAX_REPAIRS):
        try:
            return RunRecord.from_dict(data), notes
        except InvalidSpecError as exc:
            field = getattr(exc, "field", "") or ""
            notes.append(f"not shown: {exc}")
            if not _drop(data, field):
                break
    # what cannot be repaired field by field: keep what identifies the run
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    kept = {"metadata": {k: meta[k] for k in ("name", "uid", "project") if isinstance(meta.get(k), str)}}
    iteration = meta.get("iteration")
    if isinstance(iteration, int) and not isinstance(iteration, bool):
        kept["metadata"]["iteration"] = iteration
    notes.append("the rest of this record does not have the shape of a run record")
    try:
        return RunRecord.from_dict(kept), notes
    except InvalidSpecError:
        return RunRecord(), notes


def _deep_copy(value):
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _drop(data: dict, field: str) -> bool:
    """Remove the item ``field`` names (``status.metrics.loss``, ``spec.input_objects[2].path``); True if found.

    Keys may themselves hold dots (``val.loss``): at each mapping the longest key that matches wins.
    """
    parts = [p for p in _INDEX.sub(r".[\1]", field).split(".") if p]
    if not parts:
        return False
    node, i = data, 0
    parent, last = None, None
    while i < len(parts):
        part = parts[i]
        if isinstance(node, list):
            match = _INDEX.fullmatch(part)
            if not match or int(match.group(1)) >= len(node):
                break
            parent, last, node, i = node, int(match.group(1)), node[int(match.group(1))], i + 1
        elif isinstance(node, dict):
            for j in range(len(parts), i, -1):
                key = ".".join(parts[i:j])
                if key in node:
                    parent, last, node, i = node, key, node[key], j
                    break
            else:
                break
        else:
            break
    if parent is None:
        return False
    parent.pop(last)
    return True
