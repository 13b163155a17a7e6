"""What Kubeflow Pipelines reads from a step, written from a run's final record (``mlrun run --kfp``).

A KFP v1 step is read through files: ``/mlpipeline-metrics.json`` (numbers shown on the run page),
``/mlpipeline-ui-metadata.json`` (viewers: a markdown run report, then each artifact by its viewer:
tables, html pages and charts, images) and one file per result for ``file_outputs`` (``/tmp/<key>``: a
result's value, or an artifact's target path).  A KFP v2 step gets each output parameter from a path it
names (``--kfp-output key=path``).  Writing all this takes json only: ``kfp`` itself is never imported
here.  Secret values are hidden in every file and file name, artifacts shown inline included.
"""
from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping

from ..model import RunRecord

#: where the mlpipeline files go when no folder is given (default ``/``)
KFP_DIR_ENV = "MLRUN_KFP_DIR"
#: the seed system's name for that folder, read when ``MLRUN_KFP_DIR`` is unset
KFP_META_DIR_ENV = "KFPMETA_OUT_DIR"
#: where the one-file-per-result outputs go when no folder is given (default ``/tmp``)
KFP_OUTPUTS_DIR_ENV = "MLRUN_KFP_OUTPUTS_DIR"
METRICS_FILE = "mlpipeline-metrics.json"
UI_METADATA_FILE = "mlpipeline-ui-metadata.json"
#: the output file of a hyper-parameter run's results table (``status.iterations``, JSON)
ITERATIONS_KEY = "iterations"
#: the names KFP accepts for metrics
METRIC_NAME = re.compile(r"^[a-zA-Z]([-_a-zA-Z0-9]{0,62}[a-zA-Z0-9])?$")
#: csv and html artifacts up to this size get a viewer on the run page, inline: the UI holds them in memory
INLINE_LIMIT = 64 * 1024
#: images up to this size are shown inline on the run page (a markdown viewer with a data: URI, a third larger)
IMAGE_INLINE_LIMIT = 256 * 1024
#: an artifact's viewer (``mlrun.artifacts.viewer_of``: the one it names, else its format's) -> KFP's viewer type
VIEWERS = {"table": "table", "chart": "web-app", "web-app": "web-app", "image": "markdown"}
IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
               "webp": "image/webp", "svg": "image/svg+xml"}
#: the URL schemes the KFP UI fetches a viewer's source from itself (a local path means nothing to it)
REMOTE_SOURCES = ("s3://", "gs://", "minio://", "http://", "https://")
#: rows per table in the run report, and characters per value: the report must stay small
REPORT_ROWS = 50
REPORT_VALUE_CHARS = 200


class KfpOutputs:
    """Where a pipeline step leaves its results for KFP.

    ``kfp_dir`` holds the two mlpipeline files (default ``$MLRUN_KFP_DIR``, else ``$KFPMETA_OUT_DIR``, else ``/``),
    ``outputs_dir`` one file per result or artifact key (default ``$MLRUN_KFP_OUTPUTS_DIR``, else
    ``/tmp``), and ``paths`` maps keys to extra files KFP v2 asks for (``{"accuracy": "/kfp/out"}``).
    """

    def __init__(self, kfp_dir: str | None = None, outputs_dir: str | None = None,
                 paths: Mapping[str, str] | None = None):
        self.kfp_dir = kfp_dir or os.environ.get(KFP_DIR_ENV) or os.environ.get(KFP_META_DIR_ENV) or "/"
        self.outputs_dir = outputs_dir or os.environ.get(KFP_OUTPUTS_DIR_ENV) or "/tmp"
        self.paths = dict(paths or {})

    def __repr__(self) -> str:
        return f"KfpOutputs(kfp_dir={self.kfp_dir!r}, outputs_dir={self.outputs_dir!r}, paths={self.paths!r})"

    def check(self) -> str:
        """Why the files could not be written (a folder that cannot be created or written to), else ``""``.

        Asked before the run starts, so a step that could not hand over its results fails at once.
        """
        import tempfile

        folders = {self.kfp_dir, self.outputs_dir, *(os.path.dirname(os.path.abspath(p)) for p in self.paths.values())}
        for folder in sorted(folders):
            try:
                os.makedirs(folder, exist_ok=True)
                fd, probe = tempfile.mkstemp(dir=folder, prefix=".mlrun-")
                os.close(fd)
                os.unlink(probe)
            except OSError as exc:
                return f"cannot write the KFP outputs to {folder}: {exc.strerror or exc}"
        return ""

    def write(self, record: RunRecord, secrets: Mapping | None = None) -> str:
        """Write every file for ``record``; why one could not be written, else ``""``.

        ``secrets`` are the credentials for reading back small csv/html artifacts shown inline; their
        values are hidden in every file and file name (``run_function`` hands over a masked record already).
        """
        from ..secrets import mask, masked_json

        secrets = secrets or {}
        values = {key: mask(value, secrets) for key, value in output_values(record).items()}
        files = {
            os.path.join(self.kfp_dir, METRICS_FILE): masked_json(kfp_metrics(record.outputs), secrets),
            os.path.join(self.kfp_dir, UI_METADATA_FILE): masked_json(kfp_ui_metadata(record, _reader(secrets)),
                                                                      secrets),
        }
        problems = []
        for key, value in values.items():
            path = _path_under(self.outputs_dir, mask(key, secrets))  # a key may hold a secret: never a file name
            if path:
                files[path] = value
            else:
                problems.append(f"KFP output {mask(key, secrets)!r} cannot be a file name under {self.outputs_dir}")
        for key, path in self.paths.items():
            value = values.get(key, values.get(mask(key, secrets)))  # the record's key may be masked
            if value is not None:
                files[path] = value
            elif record.state != "error":  # a failed run already says why its results are missing
                problems.append(f"KFP output {mask(key, secrets)!r}: the run logged no result or artifact "
                                "with that key")
        for path, text in files.items():
            try:
                _write_text(path, text)
            except OSError as exc:
                return f"cannot write the KFP output {path}: {exc.strerror or exc}"
        return problems[0] if problems else ""


def output_values(record: RunRecord) -> dict[str, str]:
    """Each result's value and each artifact's target path, as the text of its output file.

    Strings stay as they are, other values are JSON; a result and an artifact with the same key:
    the result wins.  A hyper-parameter run adds ``iterations``: its results table as JSON.
    """
    values = {a["key"]: str(a.get("target_path", "")) for a in record.status.output_artifacts if a.get("key")}
    values.update((key, v if isinstance(v, str) else json.dumps(v)) for key, v in record.outputs.items())
    if record.status.iterations:  # a sweep's results table (header row first), unless a result took the name
        values.setdefault(ITERATIONS_KEY, json.dumps(record.status.iterations))
    return values


def kfp_metrics(outputs: Mapping) -> dict:
    """``mlpipeline-metrics.json``: the numeric results (booleans, text and NaN/infinity are left out)."""
    numbers = {k: v for k, v in outputs.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
    names = metric_names(numbers)
    return {"metrics": [{"name": names[key], "numberValue": numbers[key], "format": "RAW"} for key in sorted(numbers)]}


def metric_names(keys: Iterable[str]) -> dict[str, str]:
    """A unique name KFP accepts for each key.

    Valid keys keep their names; the others lose the characters KFP rejects (``val.acc`` ->
    ``val-acc``, ``1st`` -> ``metric-1st``), at most 64 characters, and collisions get ``-2``,
    ``-3``, ... in sorted key order: the same keys always get the same names.
    """
    keys = sorted(set(keys))
    names = {key: key for key in keys if METRIC_NAME.match(key)}
    taken = set(names)
    for key in keys:
        if key in names:
            continue
        base = name = _metric_name(key)
        count = 1
        while name in taken:
            count += 1
            suffix = f"-{count}"
            name = base[:64 - len(suffix)] + suffix
        names[key] = name
        taken.add(name)
    return names


def _metric_name(key: str) -> str:
    name = re.sub(r"[^-_a-zA-Z0-9]+", "-", key).strip("-_")
    if not name[:1].isalpha():
        name = f"metric-{name}" if name else "metric"
    return name[:64].rstrip("-_")


def kfp_ui_metadata(record: RunRecord, read: Callable[[str], bytes] | None = None) -> dict:
    """``mlpipeline-ui-metadata.json``: the run report, then a viewer per artifact by its viewer (or format).

    ``table`` (csv, tsv): KFP's table viewer; ``chart`` and ``web-app`` (html): a web-app page; ``image``: a
    markdown viewer showing it.  Small ones are inline (``read(target_path)`` fetches their content), larger
    pages and images by their URL when the KFP UI can fetch it; without ``read`` artifacts are only listed in
    the report.
    """
    outputs = [{"type": "markdown", "storage": "inline", "source": run_report(record)}]
    for artifact in record.status.output_artifacts:
        output = artifact_viewer(artifact, read) if isinstance(artifact, dict) else None
        if output:
            outputs.append(output)
    return {"version": 1, "outputs": outputs}


def artifact_viewer(artifact: Mapping, read: Callable[[str], bytes] | None) -> dict | None:
    """The KFP viewer of one artifact entry, or ``None`` (a viewer is a nicety, never a reason to fail the step)."""
    from ..artifacts import viewer_of

    kind = VIEWERS.get(viewer_of(artifact))
    size, target, fmt = artifact.get("size"), artifact.get("target_path"), str(artifact.get("format") or "").lower()
    if not (read and kind and target and isinstance(target, str)):
        return None
    limit = IMAGE_INLINE_LIMIT if kind == "markdown" else INLINE_LIMIT
    if isinstance(size, int) and 0 <= size <= limit:
        try:
            data = read(target)
        except OSError:
            data = None
        if data is not None:
            return _inline_viewer(kind, artifact.get("key", ""), fmt, data)
    if target.startswith(REMOTE_SOURCES):
        if kind == "web-app":
            return {"type": "web-app", "source": target}
        if kind == "markdown" and target.startswith(("http://", "https://")):
            return {"type": "markdown", "storage": "inline", "source": f"![{_cell(artifact.get('key', ''))}]({target})"}
    return None


def _inline_viewer(kind: str, key: str, fmt: str, data: bytes) -> dict | None:
    if kind == "markdown":
        import base64

        image = base64.b64encode(data).decode("ascii")
        return {"type": "markdown", "storage": "inline",
                "source": f"![{_cell(key)}](data:{IMAGE_TYPES.get(fmt, 'image/png')};base64,{image})"}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if kind == "table":
        return _table_viewer(text, "\t" if fmt == "tsv" else ",")
    return {"type": "web-app", "storage": "inline", "source": text}


def _table_viewer(text: str, delimiter: str = ",") -> dict:
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    header, body = (rows[0], rows[1:]) if rows else ([], [])
    if delimiter == ",":
        source = text.partition("\n")[2]
    else:  # KFP reads csv only: the rows written again as csv
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(body)
        source = buffer.getvalue()
    return {"type": "table", "format": "csv", "storage": "inline", "header": header, "source": source}


def run_report(record: RunRecord) -> str:
    """A short markdown report: identity and state, parameters, results, metrics and artifacts."""
    meta, status = record.metadata, record.status
    facts = [f"uid `{meta.uid}`", f"state **{status.state}**"]
    facts += [f"{key} `{meta.labels[key]}`" for key in ("workflow", "owner") if meta.labels.get(key)]
    lines = [f"# Run report: {_cell(meta.name or 'run')}", "", ", ".join(facts), ""]
    if status.error:
        lines += [f"**Error:** {_cell(status.error)}", ""]
    lines += _table("Parameters", ("name", "value"), record.spec.parameters.items())
    lines += _table("Hyper-parameters", ("name", "values"), record.spec.hyperparams.items())
    lines += _table("Results", ("name", "value"), status.outputs.items())
    lines += _table("Metrics", ("name", "last value", "points"),
                    [(key, (m.get("yvalues") or [""])[-1], len(m.get("yvalues") or []))
                     for key, m in status.metrics.items() if isinstance(m, dict)])
    lines += _table("Artifacts", ("key", "target path", "size", "format"),
                    [(a.get("key", ""), a.get("target_path", ""), a.get("size", ""), a.get("format", ""))
                     for a in status.output_artifacts])
    return "\n".join(lines)


def _table(title: str, header: tuple, rows: Iterable[tuple]) -> list[str]:
    rows = list(rows)
    if not rows:
        return []
    lines = [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows[:REPORT_ROWS]]
    if len(rows) > REPORT_ROWS:
        lines.append(f"| ... {len(rows) - REPORT_ROWS} more |" + " |" * (len(header) - 1))
    return lines + [""]


def _cell(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    if len(text) > REPORT_VALUE_CHARS:
        text = text[:REPORT_VALUE_CHARS] + "..."
    return " ".join(text.split()).replace("|", "\\|")


def _path_under(folder: str, key: str) -> str:
    """``folder/key``, or ``""`` when the key would land outside the folder (``..``, absolute paths)."""
    path = os.path.normpath(os.path.join(folder, key))
    inside = os.path.commonpath([os.path.abspath(path), os.path.abspath(folder)]) == os.path.abspath(folder)
    return path if key and inside and os.path.abspath(path) != os.path.abspath(folder) else ""


def _write_text(path: str, text: str) -> None:
    from ..datastore.base import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fp:
        fp.write(text)


def _reader(secrets: Mapping | None) -> Callable[[str], bytes]:
    """Read an artifact back through its data store; any failure is an ``OSError``."""

    def read(url: str) -> bytes:
        from ..datastore import get_item
        from ..errors import MLRunError

        try:
            return get_item(url, secrets).get()
        except (MLRunError, ImportError) as exc:  # missing, unreadable, or its store is not installed
            raise OSError(str(exc)) from None

    return read
