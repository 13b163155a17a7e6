"""The web UI: server-rendered pages to browse, chart and compare runs (no front-end build step).

    /                   runs list: filter, sort, page, pick runs to compare
    /runs/UID           one run: parameters, inputs with lineage, outputs, metric charts, artifacts, logs, record
    /compare?uid=A&uid=B  two or more runs side by side (``UID@N`` picks a hyper-parameter iteration)

Pages show what records hold; records carry secret sources, never secret values, and every
value is escaped by the templates.
"""
from __future__ import annotations

import json
import re
from datetime import datetime

from flask import Blueprint, current_app, make_response, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from ..errors import InvalidInputError, InvalidSpecError, MLRunError
from ..model import RUN_STATES, RunRecord, dump_yaml
from .api import iteration_arg, run_db
from .auth import COOKIE
from .charts import last_value, metric_series
from .listing import ListQuery, whole_number

bp = Blueprint("ui", __name__)

PREVIEW_BYTES = 4096
PREVIEW_ARTIFACTS = 12  # previews read the artifact store: a run with hundreds of artifacts previews the first few
LOG_TAIL_BYTES = 256 * 1024
MAX_COMPARED = 10
#: metric histories longer than this are cut short in the page's YAML (the download has them whole)
YAML_LIST_ITEMS = 20
IMAGE_FORMATS = ("png", "jpg", "jpeg", "gif", "webp")
TEXT_FORMATS = ("txt", "csv", "tsv", "json", "yaml", "yml", "md", "log", "py", "html", "xml", "ini", "cfg", "")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


# -- pages ----------------------------------------------------------------------------------
@bp.get("/")
def runs():
    # an empty form field means "any", and the label box takes several labels separated by commas
    args = MultiDict([(k, p.strip()) for k, v in request.args.items(multi=True)
                      for p in (v.split(",") if k == "label" else [v]) if p.strip()])
    error, page = "", None
    try:
        query = ListQuery.from_args(args, strict=False)
        page = query.fetch(run_db())
    except InvalidInputError as exc:
        query, error = ListQuery(), str(exc)
    form = {key: args.get(key, "") for key in ("name", "project", "state", "since", "until")}
    form["label"] = ", ".join(args.getlist("label"))
    html = render_template("runs.html", page=page, query=query, form=form, error=error, states=RUN_STATES)
    return html, 400 if error else 200


@bp.get("/runs/<uid>")
def run(uid: str):
    db = run_db()
    iteration = iteration_arg()
    record = RunRecord.from_dict(db.read_run(uid, iteration))
    charts = [chart(key, [metric_series(metric, key)]) for key, metric in record.status.metrics.items()]
    try:
        log = db.get_log(uid)
    except MLRunError:
        log = b""
    return render_template("run.html", run=record, charts=charts, inputs=input_rows(record),
                           artifacts=artifact_rows(record), iterations=iteration_table(record),
                           log=clean_log(log[-LOG_TAIL_BYTES:]), log_cut=len(log) > LOG_TAIL_BYTES,
                           log_size=len(log), record_yaml=short_yaml(record.to_dict()))


@bp.get("/compare")
def compare():
    refs = [ref for value in request.args.getlist("uid") for ref in value.split(",") if ref.strip()]
    if not 2 <= len(refs) <= MAX_COMPARED:
        raise InvalidSpecError(f"pick from 2 to {MAX_COMPARED} runs to compare (got {len(refs)})", "uid")
    db = run_db()
    records = []
    for ref in refs:
        uid, _, iteration = ref.strip().partition("@")
        iteration_number = whole_number(iteration or "0", f"the iteration in {ref!r}")
        records.append(RunRecord.from_dict(db.read_run(uid, iteration_number)))
    only_diff = request.args.get("diff") == "1"
    metric_keys = _union(r.status.metrics for r in records)
    # each run keeps its colour (its column's) in every chart, also where other runs lack the metric
    charts = [chart(key, [dict(metric_series(r.status.metrics[key], run_label(r)), color=i)
                          for i, r in enumerate(records) if key in r.status.metrics]) for key in metric_keys]
    sections = [
        ("Parameters", diff_rows([r.spec.parameters for r in records], only_diff)),
        ("Outputs", diff_rows([r.status.outputs for r in records], only_diff)),
        ("Final metric values", diff_rows([{k: last_value(m) for k, m in r.status.metrics.items()} for r in records],
                                          only_diff)),
        ("Labels", diff_rows([r.metadata.labels for r in records], only_diff)),
    ]
    return render_template("compare.html", runs=records, refs=refs, sections=sections, charts=charts,
                           only_diff=only_diff)


@bp.route("/login", methods=["GET", "POST"])
def login():
    auth = current_app.config["MLRUN_AUTH"]
    target = request.values.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("ui.runs")  # only paths on this server: no open redirect
    if auth is None:
        return redirect(target)
    if request.method == "POST":
        if auth.token_matches(request.form.get("token", "")):
            response = make_response(redirect(target))
            response.set_cookie(COOKIE, auth.session_value, max_age=30 * 24 * 3600, httponly=True,
                                samesite="Strict", secure=request.is_secure)
            return response
        return render_template("login.html", next=target, error="wrong token"), 401
    return render_template("login.html", next=target, error="")


@bp.post("/logout")
def logout():
    response = make_response(redirect(url_for("ui.login")))
    response.delete_cookie(COOKIE)
    return response


# -- what the pages show --------------------------------------------------------------------
def chart(title: str, series: list[dict]) -> dict:
    return {"title": title, "series": series, "points": sum(s["points"] for s in series),
            "downsampled": any(s["points"] > len(s["x"]) for s in series)}


def input_rows(record: RunRecord) -> list[dict]:
    """Inputs as asked for (``spec``) joined with what was actually read (``status``: url, size, etag, time)."""
    read = {entry.get("key"): entry for entry in record.status.input_objects}
    rows = [{"key": item.get("key"), "path": item.get("path"), **read.pop(item.get("key"), {})}
            for item in record.spec.input_objects]
    return rows + [{"path": "", **entry} for entry in read.values()]


def artifact_rows(record: RunRecord) -> list[dict]:
    rows = []
    for number, artifact in enumerate(record.status.output_artifacts):
        row = dict(artifact)
        fmt = str(artifact.get("format") or "").lower()
        row["preview"] = preview(artifact, fmt) if number < PREVIEW_ARTIFACTS else {}
        rows.append(row)
    return rows


def preview(artifact: dict, fmt: str) -> dict:
    """What the run page shows of an artifact: an image, a table (CSV), or the first lines of text."""
    if not artifact.get("target_path"):
        return {}
    if fmt in IMAGE_FORMATS:
        return {"kind": "image"}
    if fmt not in TEXT_FORMATS:
        return {}
    from ..datastore import get_item

    try:
        with get_item(artifact["target_path"]).open("rb") as stream:
            head = stream.read(PREVIEW_BYTES + 1)
    except (MLRunError, OSError) as exc:
        return {"kind": "error", "text": f"cannot read {artifact['target_path']}: {exc}"}
    if b"\0" in head[:PREVIEW_BYTES]:
        return {}  # binary content whatever its name says
    text = head[:PREVIEW_BYTES].decode("utf-8", "replace")
    cut = len(head) > PREVIEW_BYTES
    if fmt in ("csv", "tsv"):
        import csv

        lines = text.splitlines()[:-1] if cut else text.splitlines()  # the last line may be cut mid-way
        rows = list(csv.reader(lines[:21], delimiter="\t" if fmt == "tsv" else ","))
        if rows:
            return {"kind": "table", "header": rows[0], "rows": rows[1:], "cut": cut or len(lines) > 21}
    return {"kind": "text", "text": text, "cut": cut}


def iteration_table(record: RunRecord) -> dict:
    """``status.iterations`` (mappings, or lists with a header row first) as a header and rows, each row with
    the iteration it links to, and the references that compare the iterations."""
    iterations = record.status.iterations
    if iterations and all(isinstance(row, dict) for row in iterations):
        header = _union(iterations)
        rows = [[row.get(key, "") for key in header] for row in iterations]
    elif iterations and all(isinstance(row, list) for row in iterations):
        header, rows = iterations[0], iterations[1:]
    else:
        return {}
    column = header.index("iteration") if "iteration" in header else -1
    numbered = [(row[column] if 0 <= column < len(row) and isinstance(row[column], int) else None, row)
                for row in rows]
    compare = [f"{record.uid}@{number}" for number, _ in numbered if number][:MAX_COMPARED]
    return {"header": header, "rows": numbered, "column": column, "compare": compare if len(compare) > 1 else []}


def clean_log(data: bytes) -> str:
    """A log as a terminal would have left it: colour codes dropped, a progress bar only at its last state."""
    text = _ANSI.sub("", data.decode("utf-8", "replace"))
    return "\n".join(line.rsplit("\r", 1)[-1] if "\r" in line else line for line in text.split("\n"))


def short_yaml(data: dict) -> str:
    def shorten(value):
        if isinstance(value, dict):
            return {k: shorten(v) for k, v in value.items()}
        if isinstance(value, list):
            if len(value) > YAML_LIST_ITEMS:
                more = f"... {len(value) - YAML_LIST_ITEMS:,} more (download the record for all)"
                return [shorten(v) for v in value[:YAML_LIST_ITEMS]] + [more]
            return [shorten(v) for v in value]
        return value

    return dump_yaml(shorten(data))


def diff_rows(mappings: list[dict], only_diff: bool = False) -> list[dict]:
    """One row per key across runs: its values (``None`` where a run lacks it) and whether they differ."""
    rows = []
    for key in _union(mappings):
        values = [m.get(key, _MISSING) for m in mappings]
        differs = len({json.dumps(v, sort_keys=True, default=str) for v in values if v is not _MISSING}) > 1 \
            or any(v is _MISSING for v in values)
        if differs or not only_diff:
            rows.append({"key": key, "cells": [None if v is _MISSING else v for v in values],
                         "missing": [v is _MISSING for v in values], "differs": differs})
    return rows


def run_label(record: RunRecord) -> str:
    iteration = f"@{record.metadata.iteration}" if record.metadata.iteration else ""
    return f"{record.metadata.name or 'run'} {record.uid[:8]}{iteration}"


class _Missing:
    def __repr__(self) -> str:
        return "-"


_MISSING = _Missing()


def _union(mappings) -> list:
    keys: dict = {}
    for mapping in mappings:
        keys.update(dict.fromkeys(mapping))
    return list(keys)


# -- template helpers -----------------------------------------------------------------------
@bp.app_template_filter("when")
def when(iso: str) -> str:
    """``2024-06-29T23:04:57.553598+00:00`` -> ``2024-06-29 23:04:57``."""
    return iso[:19].replace("T", " ") if iso else ""


@bp.app_template_filter("duration")
def duration(start: str, end: str) -> str:
    try:
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):
        return ""
    if seconds < 0:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@bp.app_template_filter("size")
def size(value) -> str:
    if not isinstance(value, int):
        return ""
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return ""


@bp.app_template_filter("value")
def show_value(value) -> str:
    """A parameter or output as a user wrote it: strings bare, numbers trimmed, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value, default=str)


@bp.app_template_global("page_url")
def page_url(query: ListQuery, **changes) -> str:
    return url_for("ui.runs", **query.to_args(**changes))
