"""The web UI: server-rendered pages to browse, chart and compare runs (no front-end build step).

    /                   runs list: filter, sort, page, pick runs to compare
    /runs/UID           one run: parameters, inputs with lineage, outputs, metric charts, artifacts, logs, record;
                        a sweep's iterations as parallel coordinates and a scatter (``sx``/``sy`` pick its axes)
    /compare?uid=A&uid=B  two or more runs side by side (``UID@N`` picks a hyper-parameter iteration)
    /workflows/UID      a project workflow's run: its state and timing, and its steps in order (runs labelled
                        ``workflow=UID``)

Pages show what records hold; records carry secret sources, never secret values, and every
value is escaped by the templates.  A record that today's model would refuse (stored by an older
version) is shown as far as it goes, with a note on what was left out: no page fails on one record.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import shlex
from datetime import datetime

from flask import Blueprint, current_app, make_response, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from ..artifacts import viewer_of
from ..errors import AccessDeniedError, InvalidInputError, InvalidSpecError, MLRunError
from ..model import MAX_ITERATION, RUN_STATES, RunRecord, check_uid, dump_yaml
from ..policy import is_loopback
from ..rundb.filters import field_names, filter_help, is_key
from .api import check_artifact, check_path_uid, iteration_arg, run_db
from .auth import COOKIE, SESSION_MAX_AGE, TooManyAttempts
from .charts import is_series, last_value, metric_series
from .listing import ListQuery, whole_number
from .records import clean_text, lenient_record

bp = Blueprint("ui", __name__)

PREVIEW_BYTES = 4096
PREVIEW_ARTIFACTS = 12  # previews read the artifact store: a run with hundreds of artifacts previews the first few
LOG_TAIL_BYTES = 256 * 1024
MAX_COMPARED = 10
#: labels and results one run shows in the runs list, and keys a comparison shows per section: a run may hold
#: hundreds of thousands; the run's own page (and its record) has them all
LISTED_LABELS = 12
LISTED_OUTPUTS = 4
COMPARED_KEYS = 200
COMPARED_CHARTS = 50
#: parameters naming a run's column in a comparison at most
LABEL_PARAMETERS = 3
#: label, output and parameter keys the filter box suggests at most
SUGGESTED_KEYS = 200
#: metric histories longer than this are cut short in the page's YAML (the download has them whole)
YAML_LIST_ITEMS = 20
IMAGE_FORMATS = ("png", "jpg", "jpeg", "gif", "webp")
#: viewers shown as an image or in a sandboxed frame, and the formats a frame shows
FRAME_VIEWERS = ("image", "chart", "web-app")
FRAME_FORMATS = ("html", "htm", "svg")
TEXT_FORMATS = ("txt", "csv", "tsv", "json", "yaml", "yml", "md", "log", "py", "html", "xml", "ini", "cfg", "")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


# -- pages ----------------------------------------------------------------------------------
bp.url_value_preprocessor(check_path_uid)


@bp.get("/")
def runs():
    # an empty form field means "any", and the label box takes several labels separated by commas
    args = MultiDict([(k, p.strip()) for k, v in request.args.items(multi=True)
                      for p in (v.split(",") if k == "label" else [v]) if p.strip()])
    error, page, suggestions = "", None, filter_suggestions([])
    try:
        query = ListQuery.from_args(args, strict=False)
        db = run_db()
        page = query.fetch(db)
        suggestions = filter_suggestions(page.runs)
        page.runs = [summary_row(summary) for summary in page.runs]
        for row in page.runs:
            if not row["name"] and row["uid"]:  # a run of a function never reached has no name: show its URL
                row["function"] = function_url(db, row["uid"], row["iteration"])
    except InvalidInputError as exc:
        query, error = ListQuery(), str(exc)
    form = {key: args.get(key, "") for key in ("name", "project", "state", "since", "until", "filter")}
    form["label"] = ", ".join(args.getlist("label"))
    html = render_template("runs.html", page=page, query=query, form=form, error=error, states=RUN_STATES,
                           suggestions=suggestions, filter_help=filter_help())
    return html, 400 if error else 200


@bp.get("/runs/<uid>")
def run(uid: str):
    db = run_db()
    iteration = iteration_arg()
    record, notes = lenient_record(db.read_run_data(uid, iteration))
    metrics = charted_metrics(record, notes)
    iterations = iteration_table(record)
    best = best_iteration(record) if not metrics and iterations else None
    if best:  # a sweep's parent: its outputs are the best iteration's, and so are the metrics shown
        try:
            metrics = charted_metrics(lenient_record(db.read_run_data(uid, best))[0], [])
        except MLRunError:
            best = None
        refs = iterations["compare"]
        if refs and f"{uid}@{best}" not in refs:  # compare the best with the first others
            iterations["compare"] = [f"{uid}@{best}", *refs[:MAX_COMPARED - 1]]
    charts = [chart(key, [metric_series(metric, key)]) for key, metric in metrics.items()]
    try:  # the tail only: a log can be far larger than a page should read (the raw log link has it all)
        log, log_size = db.read_log_tail(uid, LOG_TAIL_BYTES)
    except MLRunError:
        log, log_size = b"", 0
    from .sweeps import sweep_views

    sweep = sweep_views(iterations, request.args.get("sx"), request.args.get("sy")) if iterations else None
    return render_template("run.html", run=record, charts=charts, inputs=input_rows(record),
                           artifacts=artifact_rows(record, notes), iterations=iterations, best=best, sweep=sweep,
                           log=clean_log(log), log_cut=log_size > len(log), log_size=log_size,
                           record_yaml=short_yaml(record.to_dict()), notes=notes)


@bp.get("/workflows/<uid>")
def workflow(uid: str):
    db = run_db()
    try:
        record, notes = lenient_record(db.read_run_data(uid, 0))
    except MLRunError:  # steps of a pipeline run outside a project (KFP's run id) have no workflow record
        record, notes = RunRecord(), ["no record of this workflow itself: its steps only"]
        record.metadata.uid = uid
    steps = [summary_row(s) for s in db.list_runs(labels={"workflow": uid}, sort="start_time", desc=False)
             if s.get("uid") != uid]
    return render_template("workflow.html", run=record, steps=steps, notes=notes)


@bp.get("/compare")
def compare():
    refs = [ref for value in request.args.getlist("uid") for ref in value.split(",") if ref.strip()]
    if not 2 <= len(refs) <= MAX_COMPARED:
        raise InvalidSpecError(f"pick from 2 to {MAX_COMPARED} runs to compare (got {len(refs)})", "uid")
    db = run_db()
    records, notes, metrics, loaded = [], [], [], {}
    for ref in refs:
        uid, _, iteration = ref.strip().partition("@")
        check_uid(uid, "uid")
        iteration_number = whole_number(iteration or "0", "iteration", high=MAX_ITERATION)
        if (uid, iteration_number) not in loaded:  # a run named twice is read once
            record, record_notes = lenient_record(db.read_run_data(uid, iteration_number))
            loaded[uid, iteration_number] = record, charted_metrics(record, record_notes)
            notes += [f"{run_label(record)}: {note}" for note in record_notes]
        record, record_metrics = loaded[uid, iteration_number]
        metrics.append(record_metrics)
        records.append(record)
    only_diff = request.args.get("diff") == "1"
    columns = parameter_labels(records)
    metric_keys = _union(metrics)
    if len(metric_keys) > COMPARED_CHARTS:
        notes.append(f"the first {COMPARED_CHARTS} of {len(metric_keys):,} metrics are charted")
        metric_keys = metric_keys[:COMPARED_CHARTS]
    # each run keeps its colour (its column's) in every chart, also where other runs lack the metric
    charts = [chart(key, [dict(metric_series(m[key], columns[i] or run_label(r)), color=i)
                          for i, (r, m) in enumerate(zip(records, metrics, strict=False)) if key in m])
              for key in metric_keys]
    sections = [(title, diff_rows(mappings, only_diff, notes, title)) for title, mappings in (
        ("Parameters", [r.spec.parameters for r in records]),
        ("Outputs", [r.status.outputs for r in records]),
        ("Final metric values", [{k: last_value(v) for k, v in m.items()} for m in metrics]),
        ("Labels", [r.metadata.labels for r in records]),
    )]
    return render_template("compare.html", runs=records, refs=refs, sections=sections, charts=charts,
                           only_diff=only_diff, notes=notes, columns=columns)


@bp.route("/login", methods=["GET", "POST"])
def login():
    auth = current_app.config["MLRUN_AUTH"]
    target = request.values.get("next", "")
    if not is_local_path(target):
        target = url_for("ui.runs")  # only paths on this server: no open redirect
    if auth is None:
        return redirect(target)
    if request.method == "POST":
        try:
            matches = auth.token_matches(request.form.get("token", ""), request.remote_addr or "")
        except TooManyAttempts as exc:
            return render_template("login.html", next=target, error=str(exc)), 429, {
                "Retry-After": str(exc.retry_after)}
        if matches:
            response = make_response(redirect(target))
            response.set_cookie(COOKIE, auth.start_session(), max_age=SESSION_MAX_AGE, httponly=True,
                                samesite="Strict", secure=auth.secure_cookie or request.is_secure)
            return response
        return render_template("login.html", next=target, error="wrong token"), 401
    return render_template("login.html", next=target, error="")


@bp.post("/logout")
def logout():
    auth = current_app.config["MLRUN_AUTH"]
    if auth is not None:
        auth.end_session(request.cookies.get(COOKIE, ""))
    response = make_response(redirect(url_for("ui.login")))
    response.delete_cookie(COOKIE)
    return response


def is_local_path(target: str) -> bool:
    """True if a browser sent to ``target`` stays on this server: a path, never another host.

    Browsers drop tabs and newlines anywhere in a URL, strip leading control characters and spaces, and
    read ``\\`` as ``/``, so ``/\t/evil.com`` and ``/\\evil.com`` both mean ``//evil.com``: such
    characters are refused outright rather than second-guessed.
    """
    if not target.startswith("/") or target[1:2] == "/" or "\\" in target:
        return False
    return not any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in target)


# -- what the pages show --------------------------------------------------------------------
def summary_row(summary) -> dict:
    """A run summary as the runs list shows it: the fields it uses with the types it expects, text escaped;
    the first few labels and results only (``more_labels``: how many more there are)."""
    more_labels = 0
    if isinstance(summary, dict):
        labels = summary.get("labels")
        more_labels = max(0, len(labels) - LISTED_LABELS) if isinstance(labels, dict) else 0
        summary = clean_text({**summary, **{key: dict(itertools.islice(summary[key].items(), most))
                                            for key, most in (("labels", LISTED_LABELS), ("outputs", LISTED_OUTPUTS))
                                            if isinstance(summary.get(key), dict)}})
    else:
        summary = {}
    row = {key: _text(summary.get(key)) for key in ("uid", "name", "project", "state", "start_time", "last_update",
                                                    "error")}
    iteration = summary.get("iteration")
    row["iteration"] = iteration if isinstance(iteration, int) and 0 <= iteration <= MAX_ITERATION else 0
    for key in ("labels", "outputs"):
        row[key] = summary.get(key) if isinstance(summary.get(key), dict) else {}
    row["more_labels"] = more_labels
    return row


def filter_suggestions(summaries: list) -> list[str]:
    """The fields the filter box offers: the language's own, and the label, output and parameter keys of the runs
    on the page (a cheap sample of the store's keys: no query of its own; the first ``LISTED_LABELS`` of each
    kind per run, as the list shows its labels), at most ``SUGGESTED_KEYS`` of them."""
    fields = [field for field in field_names() if not field.endswith(".KEY")]
    keyed: dict = {}
    for summary in summaries:
        for prefix in ("labels", "outputs", "parameters"):
            mapping = summary.get(prefix) if isinstance(summary, dict) else None
            if isinstance(mapping, dict):
                keyed.update(dict.fromkeys(f"{prefix}.{key}" for key in itertools.islice(mapping, LISTED_LABELS)
                                           if is_key(key)))
        if len(keyed) >= SUGGESTED_KEYS:
            break
    return fields + sorted(keyed)[:SUGGESTED_KEYS]


def function_url(db, uid: str, iteration: int) -> str:
    """The URL of the function a remote run called (``""`` for other runs, or a record that cannot be read)."""
    try:
        runtime = lenient_record(db.read_run_data(uid, iteration))[0].spec.runtime
    except MLRunError:
        return ""
    command = runtime.get("command") if isinstance(runtime, dict) and runtime.get("kind") == "remote" else ""
    return command if isinstance(command, str) else ""


def best_iteration(record: RunRecord) -> int | None:
    """The iteration a sweep's selector picked (its parent's ``best_iteration`` output), if any."""
    best = record.status.outputs.get("best_iteration")
    return best if not record.metadata.iteration and _iteration_number(best) else None


def _text(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else show_value(value)


def charted_metrics(record: RunRecord, notes: list[str]) -> dict:
    """The record's metrics that are ``{labels, xvalues, yvalues}`` histories; each other one noted and skipped."""
    metrics = {}
    for key, metric in record.status.metrics.items():
        if is_series(metric):
            metrics[key] = metric
        else:
            notes.append(f"metric {key!r} is not shown: it is not a {{labels, xvalues, yvalues}} history")
    return metrics



def chart(title: str, series: list[dict]) -> dict:
    return {"title": title, "series": series, "points": sum(s["points"] for s in series),
            "downsampled": any(s["points"] > len(s["x"]) for s in series)}


def input_rows(record: RunRecord) -> list[dict]:
    """Inputs as asked for (``spec``) joined with what was actually read (``status``: url, size, etag, time)."""
    read = {entry.get("key"): entry for entry in record.status.input_objects
            if isinstance(entry, dict) and isinstance(entry.get("key"), str)}
    rows = [{"key": item.get("key"), "path": item.get("path"), **read.pop(item.get("key"), {})}
            for item in record.spec.input_objects if isinstance(item, dict)]
    return rows + [{"path": "", **entry} for entry in read.values()]


def artifact_rows(record: RunRecord, notes: list[str] | None = None) -> list[dict]:
    """The artifacts as the run page shows them: the fields it uses with the types it expects, and a preview."""
    rows = []
    for number, artifact in enumerate(record.status.output_artifacts):
        if not isinstance(artifact, dict):
            if notes is not None:
                notes.append(f"status.output_artifacts[{number}] is not shown: it is not a mapping")
            continue
        row = {key: _text(artifact.get(key))
               for key in ("key", "kind", "viewer", "format", "target_path", "description", "sha256", "uri")}
        row["size"] = artifact.get("size")
        row["sources"] = [s for s in artifact.get("sources") or [] if isinstance(s, dict)] \
            if isinstance(artifact.get("sources"), list) else []
        if not isinstance(artifact.get("target_path"), str):
            row["target_path"] = ""  # nothing to download or preview: the page shows the key alone
        fmt = row["format"].lower()
        row["preview"] = preview(record.uid, row, fmt) if number < PREVIEW_ARTIFACTS else {}
        rows.append(row)
    hinted = set()
    for row in rows:  # the command that serves a folder is shown once, at its first artifact
        if row["preview"].get("kind") == "refused" and row["preview"]["folder"]:
            if row["preview"]["folder"] in hinted:
                row["preview"]["command"] = ""
            hinted.add(row["preview"]["folder"])
    return rows


def preview(uid: str, artifact: dict, fmt: str) -> dict:
    """What the run page shows of an artifact, by its viewer (else its format): an image, a table (the first rows
    of a CSV), a chart or page (in a sandboxed frame, ``api.ARTIFACT_POLICY``), or the first lines of text.

    Only artifacts under the server's artifact roots are read (or linked as images and frames); others say so.
    """
    if not artifact.get("target_path"):
        return {}
    try:
        check_artifact(uid, artifact["key"], artifact["target_path"])
    except AccessDeniedError:
        folder = artifact_folder(artifact["target_path"])
        return {"kind": "refused", "text": "not served: stored outside the server's artifact roots", "folder": folder,
                "command": server_command(folder) if folder else ""}
    viewer = viewer_of({"viewer": artifact.get("viewer"), "format": fmt})
    if viewer in FRAME_VIEWERS and fmt in IMAGE_FORMATS:
        return {"kind": "image"}
    if viewer in FRAME_VIEWERS and fmt in FRAME_FORMATS:  # an svg image too: a frame keeps it from scripting the page
        return {"kind": "frame"}
    if fmt not in TEXT_FORMATS and viewer not in ("table", "text"):
        return {}
    from ..datastore import get_item

    try:
        with get_item(artifact["target_path"], policy=current_app.config["MLRUN_ARTIFACT_ROOTS"]).open("rb") as stream:
            head = stream.read(PREVIEW_BYTES + 1)
    except (MLRunError, OSError) as exc:
        return {"kind": "error", "text": f"cannot read {artifact['target_path']}: {exc}"}
    if b"\0" in head[:PREVIEW_BYTES]:
        return {}  # binary content whatever its name says
    text = head[:PREVIEW_BYTES].decode("utf-8", "replace")
    cut = len(head) > PREVIEW_BYTES
    if viewer == "table":
        import csv

        lines = text.splitlines()[:-1] if cut else text.splitlines()  # the last line may be cut mid-way
        rows = list(csv.reader(lines[:21], delimiter="\t" if fmt == "tsv" else ","))
        if rows:
            return {"kind": "table", "header": rows[0], "rows": rows[1:], "cut": cut or len(lines) > 21}
    return {"kind": "text", "text": text, "cut": cut}


def artifact_folder(target_path: str) -> str:
    """The folder to serve for a local artifact at ``target_path`` that the server does not serve: the folder the
    server was started in when the artifact is under it (runs write into the folder they start in, and the server
    is often started there too), else ``""``: a record only claims its path, and a hint to serve whatever folder a
    record names (``/etc``) is no hint to give."""
    if "://" in target_path and not target_path.startswith("file://"):
        return ""
    path = os.path.realpath(target_path.removeprefix("file://"))  # where a link really points
    start = current_app.config["MLRUN_START_DIR"]
    if start == os.path.dirname(start) or os.path.commonpath([start, path]) != start:  # never "/" as a whole
        return ""
    return start


def server_command(folder: str) -> str:
    """The ``mlrun server`` command that serves as this server does (its store, address, artifact roots, limits),
    and ``folder`` too; a token is never shown (the page says to keep it)."""
    from .limits import MAX_BODY, MAX_RECORD

    config = current_app.config
    words = ["mlrun", "server"]
    host, port = config.get("MLRUN_HOST", "127.0.0.1"), request.environ.get("SERVER_PORT", "8080")
    options = [("--host", host, "127.0.0.1"), ("--port", port, "8080"), ("--store", config["MLRUN_STORE_ARG"], None),
               ("--max-body-size", config["MAX_CONTENT_LENGTH"], MAX_BODY),
               ("--max-record-size", config["MLRUN_MAX_RECORD"], MAX_RECORD),
               ("--threads", config.get("MLRUN_THREADS", 8), 8), ("--workers", config.get("MLRUN_WORKERS", 1), 1)]
    for option, value, default in options:
        if value != default:
            words += [option, str(value)]
    auth = config["MLRUN_AUTH"]
    if auth is None and not is_loopback(host):
        words.append("--insecure")
    if auth is not None and auth.secure_cookie:
        words.append("--behind-tls")
    for root in [*config["MLRUN_ARTIFACT_ROOTS"].prefixes[1 if config["MLRUN_STORE_ROOT"] else 0:], folder]:
        words += ["--artifact-root", root]
    return shlex.join(words)


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
    if not isinstance(header, list) or not all(isinstance(row, list) for row in rows):
        return {}
    # "iter" since the seed system's column name came back; records of earlier versions say "iteration"
    column = next((header.index(name) for name in ("iter", "iteration") if name in header), -1)
    numbered = [(row[column] if 0 <= column < len(row) and _iteration_number(row[column]) else None, row)
                for row in rows]
    compare = [f"{record.uid}@{number}" for number, _ in numbered if number][:MAX_COMPARED]
    return {"header": header, "rows": numbered, "column": column, "compare": compare if len(compare) > 1 else []}


def _iteration_number(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ITERATION


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


def diff_rows(mappings: list[dict], only_diff: bool = False, notes: list[str] | None = None,
              title: str = "") -> list[dict]:
    """One row per key across runs: its values (``None`` where a run lacks it) and whether they differ; at most
    ``COMPARED_KEYS`` rows (``notes`` says how many more keys the ``title`` section has)."""
    rows = []
    keys = _union(mappings)
    if len(keys) > COMPARED_KEYS and notes is not None:
        notes.append(f"{title}: the first {COMPARED_KEYS} of {len(keys):,} keys are compared (each run's page has "
                     "them all)")
    for key in keys:
        if len(rows) >= COMPARED_KEYS:
            break
        values = [m.get(key, _MISSING) for m in mappings]
        differs = len({json.dumps(v, sort_keys=True, default=str) for v in values if v is not _MISSING}) > 1 \
            or any(v is _MISSING for v in values)
        if differs or not only_diff:
            rows.append({"key": key, "cells": [None if v is _MISSING else v for v in values],
                         "missing": [v is _MISSING for v in values], "differs": differs})
    return rows


def parameter_labels(records: list[RunRecord]) -> list[str]:
    """Each run's column label in a comparison: the parameters that set it apart (``lr=0.1, depth=4``: the first
    ``LABEL_PARAMETERS`` that differ between the runs), ``""`` where none do."""
    mappings = [r.spec.parameters for r in records]
    varied = [row["key"] for row in diff_rows(mappings) if row["differs"]][:LABEL_PARAMETERS]
    return [", ".join(f"{key}={_cut(show_value(m[key]))}" for key in varied if key in m) for m in mappings]


def _cut(text: str, most: int = 24) -> str:
    return text if len(text) <= most else text[:most - 1] + "…"


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
    return iso[:19].replace("T", " ") if isinstance(iso, str) else ""


@bp.app_template_filter("duration")
def duration(start: str, end: str) -> str:
    try:
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError, OverflowError):  # odd times (year 1 against year 9999) show no duration
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
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10**21:
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
