"""What Kubeflow Pipelines reads from a step, written from a run's final record (``mlrun run --kfp``).

A KFP v1 step is read through files: ``/mlpipeline-metrics.json`` (numbers shown on the run page),
``/mlpipeline-ui-metadata.json`` (viewers: a markdown run report, csv tables, html pages) and one
file per result for ``file_outputs`` (``/tmp/<key>``: a result's value, or an artifact's target
path).  A KFP v2 step gets each output parameter from a path it names (``--kfp-output key=path``).
Writing all this takes json only: ``kfp`` itself is never imported here.  Secret values are hidden
in every file and file name, artifacts shown inline included.
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
#: artifact format -> KFP viewer
VIEWERS = {"csv": "table", "html": "web-app", "htm": "web-app"}
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
    """``mlpipeline-ui-metadata.json``: the run report, then a viewer per small csv (table) or html (web-app) artifact.

    ``read(target_path)`` fetches an artifact's content; without it artifacts are only listed in the report.
    """
    outputs = [{"type": "markdown", "storage": "inline", "source": run_report(record)}]
    for artifact in record.status.output_artifacts:
        viewer = VIEWERS.get(str(artifact.get("format", "")).lower())
        size, target = artifact.get("size"), artifact.get("target_path")
        if not (read and viewer and target and isinstance(size, int) and 0 <= size <= INLINE_LIMIT):
            continue
        try:
            text = read(target).decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # the report still lists it: a viewer is a nicety, not a reason to fail the step
        if viewer == "table":
            outputs.append(_table_viewer(text))
        else:
            outputs.append({"type": "web-app", "storage": "inline", "source": text})
    return {"version": 1, "outputs": outputs}


def _table_viewer(text: str) -> dict:
    import csv

    header, _, rows = text.partition("\n")
    return {"type": "table", "format": "csv", "storage": "inline",
            "header": next(csv.reader([header.rstrip("\r")]), []), "source": rows}


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
