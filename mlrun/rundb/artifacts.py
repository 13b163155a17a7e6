"""Artifacts as the run store API sees them: the ``status.output_artifacts`` entries of stored records.

An artifact matches ``list_artifacts(name, tag, labels)`` when its ``key`` is ``name`` (any, when empty),
its tag (its own ``tag``, else its run's ``metadata.tag``) is ``tag`` (any, when empty), and every label
filter holds over its labels laid over its run's labels.
"""
from __future__ import annotations

from collections.abc import Mapping


def _run_of(data: dict) -> tuple[dict, dict]:
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    status = data.get("status") if isinstance(data.get("status"), dict) else {}
    return metadata, status


def matches(artifact, metadata: dict, name: str = "", tag: str = "", labels: Mapping | None = None,
            like: bool = False) -> bool:
    """Whether ``artifact`` (of the run ``metadata``) is wanted: ``name`` its key (with ``like``, a part of it, as
    2019 listings matched; ``~NAME`` too, MLRun 1.x's spelling), ``tag`` its (``*``: any), ``labels`` its."""
    if not isinstance(artifact, dict):
        return False
    if name:
        key = str(artifact.get("key", ""))
        found = name.removeprefix("~") in key if like else key == name
        if not found:
            return False
    if tag and tag != "*" and (artifact.get("tag") or metadata.get("tag") or "") != tag:
        return False
    have = {**(metadata.get("labels") or {}), **(artifact.get("labels") or {})}
    return all(k in have and (v is None or str(have[k]) == str(v)) for k, v in (labels or {}).items())


def entries(data: dict, name: str = "", tag: str = "", labels: Mapping | None = None) -> list[dict]:
    """The artifacts of the record ``data`` that match, each with its run's uid, name, project and iteration."""
    metadata, status = _run_of(data)
    run = {"uid": metadata.get("uid", ""), "run_name": metadata.get("name", ""),
           "project": metadata.get("project", ""), "iteration": metadata.get("iteration", 0)}
    return [{**artifact, **run} for artifact in status.get("output_artifacts") or ()
            if matches(artifact, metadata, name, tag, labels, like=True)]


def remove(data: dict, name: str = "", tag: str = "", labels: Mapping | None = None) -> int:
    """Drop the matching artifact entries from the record ``data`` (in place); how many were dropped."""
    metadata, status = _run_of(data)
    artifacts = status.get("output_artifacts") or []
    kept = [a for a in artifacts if not matches(a, metadata, name, tag, labels)]
    if len(kept) != len(artifacts):
        status["output_artifacts"] = kept
    return len(artifacts) - len(kept)


def put(data: dict, key: str, artifact: Mapping, tag: str = "") -> None:
    """Set the record's artifact ``key`` to ``artifact`` (in place), replacing one with the same key."""
    from ..errors import InvalidInputError

    if not isinstance(artifact, Mapping):
        raise InvalidInputError(f"artifact {key!r} must be a mapping, got {type(artifact).__name__}")
    entry = {**artifact, "key": key, **({"tag": tag} if tag else {})}
    _, status = _run_of(data)
    artifacts = status.get("output_artifacts") or []
    status["output_artifacts"] = [a for a in artifacts if not (isinstance(a, dict) and a.get("key") == key)] + [entry]
    data["status"] = status
