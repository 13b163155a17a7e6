"""The REST API under ``/api/``: runs, their logs and their artifacts.

    GET    /api/runs                      list (filters, sort, page: see ``listing.ListQuery``)
    POST   /api/runs                      store a record (JSON or YAML body)
    GET    /api/runs/UID[?iteration=N]    the record (``format=yaml`` for YAML)
    PUT    /api/runs/UID                  store (create or replace) the record
    PATCH  /api/runs/UID[?iteration=N]    merge a partial record into it (RFC 7386 JSON merge patch)
    DELETE /api/runs/UID                  delete the run, its iterations and its log
    GET    /api/runs/UID/log[?offset=B]   the log (from byte B)
    POST   /api/runs/UID/log              append to the log;  PUT replaces it
    GET    /api/artifacts                 artifacts of stored runs (``name``, ``project``, ``tag``, ``label=k[=v]``,
                                          ``kind``, ``category``, ``best_iteration``, ``limit``, ``offset``):
                                          ``{"artifacts": [...], "total", "next_offset"}``
    GET    /api/runs/UID/artifacts/KEY    the artifact's content, streamed from where the run stored it,
                                          if that is under one of the server's artifact roots

Errors are JSON ``{"error": message, "field": name}`` with 400 (bad input, ``field`` names it),
401 (token), 403 (an artifact outside the artifact roots), 404 (unknown run or artifact),
413 (a body or record over the size limits) or 503 (the store failed).
"""
from __future__ import annotations

import contextlib
import json
import mimetypes
import threading
from contextlib import nullcontext
from urllib.parse import quote

from flask import Blueprint, Response, current_app, request, url_for

from ..errors import AccessDeniedError, InvalidSpecError, LimitExceededError, NotFoundError
from ..model import MAX_ITERATION, RunRecord, check_iteration, check_uid, parse_struct, utc_times
from ..rundb import RunDB
from .listing import MAX_LIMIT, MAX_OFFSET, ListQuery, whole_number
from .records import clean_text, lenient_record

bp = Blueprint("api", __name__)
CHUNK_SIZE = 256 * 1024
#: artifact formats a browser may show in the page rather than download: no script runs in them, html and svg
#: pages included (``ARTIFACT_POLICY``: a sandbox, nothing fetched, only this site's pages may frame them)
INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "text/plain", "text/html", "image/svg+xml")
#: the types an artifact keeps when served: data a browser shows or saves, never runs (a script or style sheet
#: served from this site would run in its pages: ``<script src=...>`` obeys no download header); the rest are bytes
PASSIVE_TYPES = (*INLINE_TYPES, "text/csv", "application/json", "application/pdf", "application/zip",
                 "application/gzip", "application/x-tar", "application/yaml", "application/octet-stream")
#: whatever an artifact holds, it never runs as a page of this site: no script, no request, inline styles and
#: data: images only (a chart or a page with an embedded plot still shows)
ARTIFACT_POLICY = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
# read-modify-write of one record must not interleave with another PATCH in this server
_patch_lock = threading.Lock()


def run_db() -> RunDB:
    return current_app.config["MLRUN_DB"]


def iteration_arg() -> int:
    return whole_number(request.args.get("iteration", "0"), "iteration", high=MAX_ITERATION)


ANSWER_MARGIN = 0.5  # seconds kept, at most, of a client's deadline to send it the store's error in time


@bp.before_request
def pass_on_deadline():
    """The store gives up a little before the client does (its deadline header): the client hears why, and a
    write whose client gave up is not applied later."""
    import time

    from ..rundb.base import set_caller_deadline

    text = request.headers.get("X-MLRun-Deadline", "")  # seconds the client has left (``transport.DEADLINE_HEADER``)
    try:
        left = float(text) if text else None
    except ValueError:
        left = None
    if left is None or not 0 <= left < float("inf"):
        set_caller_deadline(None)
        return
    set_caller_deadline(time.time() + left - min(ANSWER_MARGIN, left / 10))


@bp.teardown_request
def forget_deadline(exc=None):
    from ..rundb.base import set_caller_deadline

    set_caller_deadline(None)


@bp.url_value_preprocessor
def check_path_uid(endpoint, values):
    """Refuse a uid in the URL's path that could climb out of a store ("../../x"), on read as on write."""
    if values and "uid" in values:
        check_uid(values["uid"], "uid")


@bp.get("/runs")
def list_runs():
    return ListQuery.from_args(request.args).fetch(run_db()).to_dict()


@bp.post("/runs")
def create_run():
    record = _record_from_body()
    if not record.uid:
        raise InvalidSpecError("metadata.uid is missing", "metadata.uid")
    return _store(record), 201, {"Location": url_for("api.read_run", uid=record.uid)}


@bp.put("/runs/<uid>")
def store_run(uid: str):
    record = _record_from_body()
    if record.uid and record.uid != uid:
        raise InvalidSpecError(f"metadata.uid {record.uid!r} does not match the URL's {uid!r}", "metadata.uid")
    record.metadata.uid = uid
    return _store(record)


@bp.get("/runs/<uid>")
def read_run(uid: str):
    iteration = iteration_arg()
    record = run_db().read_run_data(uid, iteration)
    if request.args.get("format") == "yaml":
        # records from older versions may not load as today's model: the YAML shows what does
        run, notes = lenient_record(record)
        text = run.to_yaml() + "".join(f"# {note}\n" for note in clean_text(notes))
        return Response(text, mimetype="application/yaml",
                        headers={"Content-Disposition": f'attachment; filename="{uid}-{iteration}.yaml"'})
    return record


@bp.patch("/runs/<uid>")
def update_run(uid: str):
    patch = parse_struct(request.get_data(), "request body")
    iteration = iteration_arg()
    db = run_db()
    # one PATCH at a time in this process, and, where the store can, against other workers too
    with _patch_lock, getattr(db, "run_lock", lambda *a: nullcontext())(uid, iteration):
        current = db.read_run_data(uid, iteration)
        record = RunRecord.from_dict(merge_patch(current, utc_times(patch)))
        if (record.uid, record.metadata.iteration) != (uid, iteration):
            raise InvalidSpecError("a patch cannot change metadata.uid or metadata.iteration", "metadata")
        return _store(record)


@bp.delete("/runs/<uid>")
def delete_run(uid: str):
    run_db().del_run(uid)
    return {"deleted": uid}


@bp.get("/runs/<uid>/log")
def get_log(uid: str):
    offset = whole_number(request.args.get("offset", "0"), "offset", high=MAX_OFFSET)
    return Response(run_db().read_log(uid)[offset:], mimetype="text/plain")


@bp.route("/runs/<uid>/log", methods=["POST", "PUT"])
def store_log(uid: str):
    db = run_db()
    db.read_run_data(uid)  # a log for a run that does not exist could never be seen nor deleted
    db.store_log(uid, request.get_data(), append=request.method == "POST")
    return {"uid": uid, "appended" if request.method == "POST" else "replaced": request.content_length or 0}


#: the query parameters of GET /api/artifacts
ARTIFACT_PARAMS = ("name", "project", "tag", "label", "kind", "category", "best_iteration", "limit", "offset")


@bp.get("/artifacts")
def list_artifacts():
    """Artifact entries of the stored runs (``RunDB.list_artifacts``), one page of them."""
    args = request.args
    unknown = [key for key in args if key not in ARTIFACT_PARAMS]
    if unknown:
        raise InvalidSpecError(f"unknown query parameter {unknown[0]!r} (expected one of: "
                               f"{', '.join(ARTIFACT_PARAMS)})", unknown[0])
    limit = whole_number(args.get("limit", str(MAX_LIMIT)), "limit", high=MAX_LIMIT)
    offset = whole_number(args.get("offset", "0"), "offset", high=MAX_OFFSET)
    best = args.get("best_iteration", "false").lower()
    if best not in ("true", "false", "1", "0"):
        raise InvalidSpecError(f"best_iteration must be true or false, got {best!r}", "best_iteration")
    found = run_db().list_artifacts(args.get("name", ""), args.get("project", ""), args.get("tag", ""),
                                    args.getlist("label") or None, kind=args.get("kind", ""),
                                    category=args.get("category", ""), best_iteration=best in ("true", "1"))
    more = offset + limit < len(found)
    return {"artifacts": found[offset: offset + limit], "total": len(found), "offset": offset,
            "next_offset": offset + limit if more else None}


@bp.get("/runs/<uid>/artifacts/<path:key>")
def get_artifact(uid: str, key: str):
    from ..datastore import get_item

    record = run_db().read_run_data(uid, iteration_arg())
    artifact = find_artifact(record, key)
    # the roots are checked again at each redirect an HTTP root answers with: it cannot lead outside them
    item = get_item(check_artifact(uid, key, artifact["target_path"]),
                    policy=current_app.config["MLRUN_ARTIFACT_ROOTS"])
    stream = item.open("rb")  # fails here (404) rather than half way through the response
    mimetype = mimetypes.guess_type(key)[0] or "application/octet-stream"
    if mimetype not in PASSIVE_TYPES:  # .js, .css, .wasm, .xhtml, .xml...: served as bytes, saved, never run
        mimetype = "application/octet-stream"
    inline = request.args.get("inline") == "1" and mimetype in INLINE_TYPES
    headers = {
        "Content-Disposition": _disposition("inline" if inline else "attachment", key.rsplit("/", 1)[-1]),
        "Content-Security-Policy": ARTIFACT_POLICY,
    }
    with contextlib.suppress(Exception):  # the recorded size may be stale: ask the store; else it goes chunked
        headers["Content-Length"] = str(item.stat().size)
    return Response(_chunks(stream), mimetype=mimetype, headers=headers, direct_passthrough=True)


def find_artifact(record: dict, key: str) -> dict:
    status = record.get("status") if isinstance(record.get("status"), dict) else {}
    artifacts = status.get("output_artifacts") if isinstance(status.get("output_artifacts"), list) else []
    for artifact in artifacts:
        if isinstance(artifact, dict) and artifact.get("key") == key and isinstance(artifact.get("target_path"), str) \
                and artifact["target_path"]:
            return artifact
    uid = (record.get("metadata") or {}).get("uid", "") if isinstance(record.get("metadata"), dict) else ""
    raise NotFoundError(f"run {uid} has no artifact {key!r}")


def check_artifact(uid: str, key: str, target_path: str) -> str:
    """``target_path`` if it is under one of the server's artifact roots, else ``AccessDeniedError``.

    The record only claims where its artifact is: what the server reads is the operator's choice.
    """
    if not current_app.config["MLRUN_ARTIFACT_ROOTS"].allows(target_path):
        raise AccessDeniedError(f"artifact {key} of run {uid} is stored at {target_path}, outside the server's "
                                "artifact roots (--artifact-root)")
    return target_path


def merge_patch(target, patch):
    """RFC 7386: mappings merge recursively, ``null`` removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _record_from_body() -> RunRecord:
    data = parse_struct(request.get_data(), "request body")
    if "secrets" in data:  # refused, not dropped as other unknown fields are: the client must learn it sent values
        raise InvalidSpecError("secrets is not a known section: a run store takes no secret values", "secrets")
    return RunRecord.from_dict(utc_times(data))  # epoch seconds (MLRun 1.x) become ISO text


def _store(record: RunRecord) -> dict:
    """Store a validated record: uid and iteration checked, its size under ``--max-record-size``."""
    check_uid(record.uid, "metadata.uid")
    check_iteration(record.metadata.iteration, "metadata.iteration")
    data = record.to_dict()
    limit = current_app.config["MLRUN_MAX_RECORD"]
    size = len(json.dumps(data, separators=(",", ":")))
    if size > limit:
        raise LimitExceededError(f"run record {record.uid} is {size:,} bytes, over the server's limit of {limit:,} "
                                 "(--max-record-size)")
    run_db().store_run_data(data)
    return {"uid": record.uid, "iteration": record.metadata.iteration}


def _disposition(kind: str, filename: str) -> str:
    if filename.isascii() and filename.isprintable() and '"' not in filename:
        return f'{kind}; filename="{filename}"'
    return f"{kind}; filename*=UTF-8''{quote(filename, safe='')}"  # RFC 6266: any name, no header injection


def _chunks(stream):
    # closed when the response ends or the client goes away (the WSGI server closes the iterator)
    try:
        while chunk := stream.read(CHUNK_SIZE):
            yield chunk
    finally:
        stream.close()
