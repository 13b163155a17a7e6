"""The web UI's catalog: datasets and models by name, each artifact's versions, and its lineage.

    /datasets                       the latest version of every dataset: rows, columns, project, tags
    /models                         the latest version of every model: framework, algorithm, metrics
    /artifacts/PROJECT/KEY          one artifact: its versions (newest first) with the tags each holds; the chosen
                                    version's (``?uid=``, else the latest) schema, preview, statistics, metrics and
                                    parameters; the run that produced it and the runs that read it

Pages show what records hold, escaped by the templates; everything is read through the run store API.
"""
from __future__ import annotations

from flask import Blueprint, render_template, request

from ..errors import InvalidInputError, NotFoundError
from ..model import check_uid
from ..rundb.artifacts import DEFAULT_PROJECT, LATEST
from .api import run_db

bp = Blueprint("catalog", __name__)
#: the most versions and consumers one page lists
MAX_VERSIONS = 200
MAX_CONSUMERS = 200


@bp.get("/datasets")
def datasets():
    return _catalog("dataset", "Datasets")


@bp.get("/models")
def models():
    return _catalog("model", "Models")


def _catalog(category: str, title: str):
    project = request.args.get("project", "").strip()
    found = run_db().list_artifacts(project=project, tag=LATEST, category=category, best_iteration=True)
    return render_template("catalog.html", title=title, category=category, project=project,
                           items=[_row(entry) for entry in found])


@bp.get("/artifacts/<project>/<path:key>")
def artifact(project: str, key: str):
    wanted = request.args.get("uid", "")
    if wanted:
        check_uid(wanted, "uid")
    versions = [_row(entry) for entry in run_db().list_artifacts(key, project)[:MAX_VERSIONS]]
    if not versions:
        raise NotFoundError(f"no artifact {key!r} in project {project!r}")
    _tag_versions(versions)
    iteration = request.args.get("iteration", "")
    chosen = next((v for v in versions if v["uid"] == wanted and (not iteration or str(v["iteration"]) == iteration)),
                  None) if wanted else versions[0]
    if chosen is None:
        raise NotFoundError(f"artifact {key!r} of project {project!r} has no version from run {wanted}")
    return render_template("artifact.html", project=project, key=key, versions=versions, chosen=chosen,
                           stats=_stats_table(chosen.get("stats")), consumers=consumers_of(chosen))


def _row(entry: dict) -> dict:
    """An entry as the pages use it: its fields, with the types they expect."""
    row = dict(entry)
    row["project"] = entry.get("project") or DEFAULT_PROJECT
    for name in ("metrics", "parameters", "labels", "stats", "schema"):
        row[name] = entry.get(name) if isinstance(entry.get(name), dict) else {}
    for name in ("header", "preview"):
        row[name] = entry.get(name) if isinstance(entry.get(name), list) else []
    row["preview"] = [r for r in row["preview"] if isinstance(r, list)]
    row["fields"] = [f for f in row["schema"].get("fields") or [] if isinstance(f, dict)]
    return row


def _tag_versions(versions: list[dict]) -> None:
    """Each version's ``tags``: those it holds now (a tag is held by the newest version that has it)."""
    holders: dict = {}
    for version in versions:
        version["tags"] = []
        for tag in ((version.get("tag") or LATEST), LATEST):
            if (tag, version["iteration"]) not in holders:
                holders[(tag, version["iteration"])] = version
                version["tags"].append(tag)


def _stats_table(stats: dict) -> dict:
    """Per-column statistics as a table: the statistics' names (in describe's order) and one row per column."""
    names: dict = {}
    for values in stats.values():
        if isinstance(values, dict):
            names.update(dict.fromkeys(values))
    return {"names": list(names), "rows": [(column, values) for column, values in stats.items()
                                           if isinstance(values, dict)]}


def _key_of(url) -> str:
    """The artifact key a ``store://`` URI names; ``""`` for anything else."""
    from ..rundb.artifactstore import parse

    try:
        return parse(url).key
    except InvalidInputError:
        return ""


def consumers_of(version: dict) -> list[dict]:
    """The runs that read this version: an input that resolved to it (its producer's uid and key), or that read
    the file it is stored at."""
    uid, key, target = version.get("uid"), version.get("key"), version.get("target_path")
    found = []
    for data in run_db().run_data_of(None if version["project"] == DEFAULT_PROJECT else version["project"]):
        metadata, status = data.get("metadata") or {}, data.get("status") or {}
        for read in status.get("input_objects") or []:
            if not isinstance(read, dict):
                continue
            if read.get("uid") == uid and _key_of(read.get("url")) == key or \
                    target and target in (read.get("target_path"), read.get("url")):
                found.append({"uid": metadata.get("uid", ""), "iteration": metadata.get("iteration", 0),
                              "name": metadata.get("name", ""), "input": read.get("key", ""),
                              "url": read.get("url", ""), "read_time": read.get("read_time", ""),
                              "state": status.get("state", "")})
                break
        if len(found) >= MAX_CONSUMERS:
            break
    return found
