"""Artifacts as the run store API sees them: the ``status.output_artifacts`` entries of stored records.

An artifact matches ``list_artifacts(name, tag, labels, kind, category)`` when its ``key`` is ``name`` (any,
when empty), its tag (its own ``tag``, else its run's ``metadata.tag``) is ``tag`` (any, when empty; every
artifact is a candidate for ``latest``), every label filter holds over its labels laid over its run's
labels, its ``kind`` is ``kind`` and its category (``model``, ``dataset``, ``other``) is ``category``.
A tag names one version per key: the newest artifact that has it (``newest_per_key``), so a tag moves when
a newer artifact takes it.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

LATEST = "latest"
#: the tag 2019 listings name every version with
ANY_TAG = "*"
#: what ``category=`` takes, and the kinds each one holds (``other``: every other kind)
CATEGORIES = ("model", "dataset", "other")
DEFAULT_PROJECT = "default"


def _run_of(data: dict) -> tuple[dict, dict]:
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    status = data.get("status") if isinstance(data.get("status"), dict) else {}
    return metadata, status


def check_category(category: str) -> None:
    if category and category not in CATEGORIES:
        from ..errors import InvalidInputError

        raise InvalidInputError(f"artifact category must be one of {', '.join(CATEGORIES)}, got {category!r}")


def category_of(artifact: Mapping) -> str:
    kind = artifact.get("kind") or ""
    return kind if kind in ("model", "dataset") else "other"


def matches(artifact, metadata: dict, name: str = "", tag: str = "", labels: Mapping | None = None,
            kind: str = "", category: str = "", like: bool = False) -> bool:
    """Whether ``artifact`` (of the run ``metadata``) is wanted: ``name`` its key (with ``like``, a part of it, as
    2019 listings matched; ``~NAME`` too, MLRun 1.x's spelling), ``tag`` its (``*``: any), ``labels`` its."""
    if not isinstance(artifact, dict):
        return False
    if name:
        key = str(artifact.get("key", ""))
        found = name.removeprefix("~") in key if like else key == name
        if not found:
            return False
    if tag and tag not in (ANY_TAG, LATEST) and (artifact.get("tag") or metadata.get("tag") or "") != tag:
        return False
    if kind and (artifact.get("kind") or "") != kind or category and category_of(artifact) != category:
        return False
    have = {**(metadata.get("labels") or {}), **(artifact.get("labels") or {})}
    return all(k in have and (v is None or str(have[k]) == str(v)) for k, v in (labels or {}).items())


def entries(data: dict, name: str = "", tag: str = "", labels: Mapping | None = None, kind: str = "",
            category: str = "", project: str = "", like: bool = False) -> list[dict]:
    """The artifacts of the record ``data`` that match, each with its run's uid, name, project and iteration;
    with ``project``, only a run of that project (``default``: a run of none too); ``like``: ``name`` a part of
    the key (``matches``)."""
    metadata, status = _run_of(data)
    run = {"uid": metadata.get("uid", ""), "run_name": metadata.get("name", ""),
           "project": metadata.get("project", ""), "iteration": metadata.get("iteration", 0)}
    if project and (run["project"] or DEFAULT_PROJECT) != project:
        return []
    return [{**artifact, **run} for artifact in status.get("output_artifacts") or ()
            if matches(artifact, metadata, name, tag, labels, kind, category, like)]


def newest_per_key(found: Iterable[dict]) -> list[dict]:
    """The first (newest) entry of each project, key and iteration: what a tag names."""
    seen, kept = set(), []
    for entry in found:
        version = (entry.get("project") or DEFAULT_PROJECT, entry.get("key"), entry.get("iteration", 0))
        if version not in seen:
            seen.add(version)
            kept.append(entry)
    return kept


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
