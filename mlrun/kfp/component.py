"""An mlrun step as a KFP Lightweight Python Component: ``mlrun_component(...)`` in a ``@dsl.pipeline``.

``mlrun_op`` builds a container step (an image with mlrun, ``python -m mlrun run --kfp ...``);
``mlrun_component`` builds the same step as a Python component that KFP's own executor runs: on a
cluster in ``base_image`` with ``packages_to_install``, and on this machine with KFP's local runner
(``kfp.local.init(runner=kfp.local.SubprocessRunner())``), which runs Lightweight Python Components
only.  The component's inputs are the run's parameters and inputs, its output parameters the run's
results (typed), its output artifacts the run's artifacts (``Output[Dataset]`` for tables,
``Output[HTML]`` for charts and pages, ...) plus ``Output[Metrics]`` with the numeric results.
Inside the task, ``run_step`` runs the handler file with ``run_function(..., kfp=KfpOutputs(...))``,
the path ``mlrun run --kfp`` takes: the run is recorded (``workflow`` label: the pipeline run's id)
and what reaches KFP is what ``--kfp`` writes, secrets masked.

kfp is imported when a component is built, never when this module is imported.
"""
from __future__ import annotations

import contextlib
import json
import keyword
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from ..registry import DISTRIBUTION, DISTRIBUTION_FILENAME
from .ops import kfp_name, without_url_password
from .outputs import KfpOutputs

#: the image a component runs in on a cluster (KFP's own default is python:3.9)
DEFAULT_BASE_IMAGE = "python:3.11"
#: what ``packages_to_install`` gets when no ``requirement`` is given (see ``default_requirement``)
REQUIREMENT_ENV = "MLRUN_KFP_REQUIREMENT"
#: where locally built wheels of this project are kept
WHEEL_CACHE_ENV = "MLRUN_KFP_WHEEL_CACHE"
#: seconds ``pip wheel`` may take (it fetches the build backend) before the wheel is packed directly
WHEEL_TIMEOUT_ENV = "MLRUN_KFP_WHEEL_TIMEOUT"
DEFAULT_WHEEL_TIMEOUT = 300.0
#: handler files up to this size are carried inside the component (the pipeline spec holds them)
EMBED_LIMIT = 512 * 1024
#: the output artifact holding the numeric results
METRICS_OUTPUT = "metrics"
#: a sweep step's output artifact: the iterations table as a web page
ITERATIONS_OUTPUT = "iterations"
#: rows of that table (the whole table is the sweep's iteration_results.csv)
ITERATIONS_HTML_ROWS = 1000

#: result types a component output can have
RESULT_TYPES = {"float": float, "int": int, "str": str, "bool": bool, "list": list, "dict": dict}
#: artifact kinds (KFP artifact classes, by name) and the file extensions that choose them
ARTIFACT_KINDS = ("Artifact", "Dataset", "HTML", "Markdown", "Model", "Metrics")
_EXTENSION_KINDS = {"csv": "Dataset", "tsv": "Dataset", "parquet": "Dataset", "pq": "Dataset", "feather": "Dataset",
                    "html": "HTML", "htm": "HTML", "md": "Markdown", "pkl": "Model", "pickle": "Model",
                    "joblib": "Model", "onnx": "Model", "pt": "Model", "pth": "Model", "h5": "Model"}
_CHANNEL_TYPES = {"String": "str", "Integer": "int", "Float": "float", "Double": "float", "Boolean": "bool",
                  "List": "list", "Dict": "dict", "Struct": "dict", "JsonArray": "list", "JsonObject": "dict"}
_CONSTANT_TYPES = ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (list, "list"), (dict, "dict"))
#: mlrun_op's run options that may be pipeline values, in the order they become component inputs
_RUN_OPTIONS = ("workflow", "save_to", "out_path", "rundb", "project")


def mlrun_component(target: str, params: Mapping[str, Any] | None = None, inputs: Mapping[str, Any] | None = None,
                    outputs: Sequence[str] | Mapping[str, Any] = (), *, name: str = "mlrun", handler: str = "",
                    save_to: Any = "", workflow: Any = None, secrets: Sequence[tuple[str, str]] = (),
                    out_path: Any = "", project: Any = "", labels: Mapping[str, str] | None = None, rundb: Any = "",
                    args: Sequence[str] = (), hyperparams: Mapping[str, list] | None = None,
                    hyper_options: Mapping[str, Any] | None = None, requirement: str | None = None,
                    packages: Sequence[str] = (), base_image: str = DEFAULT_BASE_IMAGE, embed: bool | None = None):
    """Add a step running ``target`` with mlrun, as a Lightweight Python Component; return its task.

    Arguments as ``mlrun_op`` (less ``image`` and ``command``); values may be constants, pipeline
    parameters or upstream outputs (an upstream artifact given as an input is read from its path).
    ``outputs``: keys, or ``{key: type}``.  A result's type is ``float`` (the default for a key
    without an extension), ``int``, ``str``, ``bool``, ``list`` or ``dict``; an artifact's is a KFP
    artifact class or its name (``"Dataset"``, ``"HTML"``, ...), by default chosen from the key's
    extension (``.csv`` -> Dataset, ``.html`` -> HTML, ``.pkl`` -> Model, else Artifact).  Every
    step also has the output artifact ``metrics`` (``Output[Metrics]``) with the numeric results.
    ``task.outputs[name]``: names as ``mlrun_op`` gives them (``test.txt`` -> ``test_txt``).
    ``hyperparams``/``hyper_options``: the step is a sweep (as ``run_function``); its outputs are the
    best iteration's, and ``outputs=["iteration_results.csv"]`` hands over the iterations table.
    ``requirement``: what ``packages_to_install`` installs to get this project in the task (a pip
    requirement: ``"mlrun-lite @ https://host/mlrun_lite-0.1.0-py3-none-any.whl"``, a ``git+`` URL; ``""``:
    nothing); default ``default_requirement()``.  ``packages``: more requirements.
    ``embed``: carry the handler file inside the component (default: when ``target`` is a local
    file), so the task needs no copy of it; the run's working directory stays the task's own.
    The step is never cached: each execution is a new run with its own record.
    """
    try:
        from kfp import dsl
    except ImportError as exc:
        from ..registry import install_hint

        raise ImportError(f"mlrun_component needs the Kubeflow Pipelines SDK: {install_hint('kfp', quote=chr(39))}") \
            from exc

    if workflow is None:
        workflow = dsl.PIPELINE_JOB_ID_PLACEHOLDER
    spec, arguments, source = component_source(
        target, params=params, inputs=inputs, outputs=outputs, name=name, handler=handler, save_to=save_to,
        workflow=workflow, secrets=secrets, out_path=out_path, project=project, labels=labels, rundb=rundb,
        args=args, hyperparams=hyperparams, hyper_options=hyper_options, embed=embed)
    if requirement is None:
        requirement = default_requirement()
    func = _compile_function(source, spec["function"])
    to_install = [r for r in (requirement, *packages) if r]
    component = dsl.component(func, base_image=base_image, packages_to_install=to_install or None)
    return component(**arguments).set_caching_options(False)


def component_source(target: str, params: Mapping[str, Any] | None = None, inputs: Mapping[str, Any] | None = None,
                     outputs: Sequence[str] | Mapping[str, Any] = (), *, name: str = "mlrun", handler: str = "",
                     save_to: Any = "", workflow: Any = "", secrets: Sequence[tuple[str, str]] = (),
                     out_path: Any = "", project: Any = "", labels: Mapping[str, str] | None = None,
                     rundb: Any = "", args: Sequence[str] = (), hyperparams: Mapping[str, list] | None = None,
                     hyper_options: Mapping[str, Any] | None = None,
                     embed: bool | None = None) -> tuple[dict, dict, str]:
    """The step's spec (what ``run_step`` gets), the component's arguments, and the function's source.

    Needs no kfp: the source names KFP's types (``Output[Dataset]``) as KFP's executor defines them.
    """
    secrets = _checked_sources(target, secrets)
    function = _identifier(name, "step")
    names = _Names()
    spec: dict[str, Any] = {"function": function, "target": target, "handler": handler, "args": [str(a) for a in args],
                            "secrets": secrets, "labels": {}, "params": [], "inputs": [], "options": {},
                            "results": [], "artifacts": [], "hyperparams": None, "hyper_options": None}
    _add_constants(spec, labels, hyperparams, hyper_options)
    # outputs first: their names are what the user reads back, inputs give way to them
    metrics_name = names.take(METRICS_OUTPUT, exact=True)
    iterations_name = names.take(ITERATIONS_OUTPUT, exact=True) if spec["hyperparams"] is not None else ""
    for key, kind in _output_kinds(outputs).items():
        py = names.take(kfp_name(key), exact=True, what=f"output {key!r}")
        (spec["results"] if kind in RESULT_TYPES else spec["artifacts"]).append([key, py, kind])

    parameters: list[str] = []
    arguments: dict[str, Any] = {}

    def add_input(value: Any, label: str) -> tuple[str, str]:
        if value is None:
            raise InvalidInputError(f"mlrun_component: {label} is None; leave it out or give a value")
        kind = _value_kind(value)
        if kind is None:
            raise InvalidInputError(f"mlrun_component: {label} has a value of type {type(value).__name__}, "
                                    "not a number, string, boolean, list, dict or pipeline value")
        py = names.take(kfp_name(label) or "value", what=label)
        parameters.append(f"{py}: {_annotation(kind, 'Input')}")
        arguments[py] = value
        return py, kind

    for key, value in (params or {}).items():
        _check_key(key, "param")
        spec["params"].append([key, *add_input(value, key)])
    for key, value in (inputs or {}).items():
        _check_key(key, "input")
        spec["inputs"].append([key, *add_input(value, f"input_{key}")])
    for option, value in zip(_RUN_OPTIONS, (workflow, save_to, out_path, rundb, project), strict=False):
        if value is not None and value != "":
            spec["options"][option] = add_input(without_url_password("mlrun_component", option, value), option)[0]
    return spec, arguments, _function_source(function, target, spec, parameters, metrics_name, iterations_name, embed)


def _checked_sources(target: str, secrets: Sequence[tuple[str, str]]) -> list[list[str]]:
    """The secrets' sources as lists; a bad target or sources (or values instead of sources) refused."""
    if not target or not isinstance(target, str):
        raise InvalidInputError("mlrun_component: target must be a file path or function URL")
    if isinstance(secrets, Mapping):
        raise InvalidInputError("mlrun_component: secrets must be sources like ('file', path) or ('env', 'A,B'), "
                                "never values: the pipeline would store them")
    sources = [list(pair) for pair in secrets]
    if any(len(pair) != 2 or not all(isinstance(p, str) for p in pair) for pair in sources):
        raise InvalidInputError("mlrun_component: secrets must be (kind, source) pairs of strings")
    return sources


def _add_constants(spec: dict, labels: Mapping | None, hyperparams: Mapping | None, hyper_options: Mapping | None):
    """The labels and sweep settings, constants of the step's definition."""
    for key, value in (labels or {}).items():
        if not isinstance(key, str) or not key or _is_pipeline_value(value):
            raise InvalidInputError(f"mlrun_component: label {key!r} must be a non-empty key with a constant value")
        spec["labels"][key] = str(value)
    if hyperparams or hyper_options:
        try:  # constants only: they are part of the step's definition
            spec["hyperparams"] = json.loads(json.dumps(dict(hyperparams or {})))
            spec["hyper_options"] = json.loads(json.dumps(dict(hyper_options or {})))
        except (TypeError, ValueError):
            raise InvalidInputError("mlrun_component: hyperparams and hyper_options must be constants "
                                    "(lists of numbers, strings, ...)") from None


def _function_source(function: str, target: str, spec: dict, parameters: list[str], metrics_name: str,
                     iterations_name: str, embed: bool | None) -> str:
    """The component function's source: its KFP signature, calling ``run_step`` with ``spec`` (the handler
    file embedded when ``embed``, by default for a local file)."""
    if embed is None:
        embed = "://" not in target and os.path.isfile(target)
    if embed:
        spec["code"] = _read_code(target)
        spec["target"] = os.path.basename(target)
    for _key, py, kind in spec["artifacts"]:
        parameters.append(f"{py}: Output[{kind}]")
    parameters.append(f"{metrics_name}: Output[Metrics]")
    spec["metrics"] = metrics_name
    if iterations_name:
        parameters.append(f"{iterations_name}: Output[HTML]")
        spec["iterations"] = iterations_name
    returns = ""
    if spec["results"]:
        fields = ", ".join(f"({py!r}, {kind})" for _key, py, kind in spec["results"])
        returns = f" -> NamedTuple('Outputs', [{fields}])"
    signature = ",\n        ".join(parameters)
    return (f"def {function}(\n        {signature}){returns}:\n"
            f"    {json.dumps('mlrun run ' + target)}\n"
            f"    from mlrun.kfp.component import run_step\n"
            f"    return run_step({json.dumps(spec, sort_keys=True)!r}, locals())\n")


def run_step(spec_text: str, values: Mapping[str, Any]):
    """Run the step inside the KFP task: the handler through ``run_function`` with ``KfpOutputs``.

    ``values``: the component function's arguments (parameters, input artifacts, output artifacts).
    Returns the typed results (a named tuple, as the component declares) and fills the output
    artifacts: each artifact's bytes, ``metrics`` with the numeric results.  A failed run is a
    failed task, with one line saying why; so is a run whose results cannot be handed to KFP (a
    result not of its declared type, an artifact that cannot be read), and its record says so.
    """
    import shutil
    import tempfile
    from collections import namedtuple

    from ..run import run_function

    spec = json.loads(spec_text)

    def value(py: str, kind: str) -> Any:
        got = values[py]
        return got.path if kind == "artifact" else got  # an upstream artifact: the run reads its file

    params = {key: value(py, kind) for key, py, kind in spec["params"]}
    inputs = {key: str(value(py, kind)) for key, py, kind in spec["inputs"]}
    options = {option: str(values[py]) for option, py in spec["options"].items()}
    work = tempfile.mkdtemp(prefix="mlrun-kfp-")
    try:
        target = spec["target"]
        if "code" in spec:  # the handler file the component carries
            os.makedirs(os.path.join(work, "code"))
            target = os.path.join(work, "code", os.path.basename(target))
            with open(target, "w", encoding="utf-8") as fp:
                fp.write(spec["code"])
        kfp = _StepOutputs(work, spec, values)
        record = run_function(target, params=params, inputs=inputs, secrets=spec["secrets"], handler=spec["handler"],
                              args=spec["args"], labels=spec["labels"], kfp=kfp, hyperparams=spec["hyperparams"],
                              hyper_options=spec["hyper_options"], **options)
        if record.state == "error":
            raise SystemExit(f"Error: run {record.uid} failed: {record.status.error}")
        if not spec["results"]:
            return None
        return namedtuple("Outputs", [py for _key, py, _kind in spec["results"]])(*kfp.results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


class _StepOutputs(KfpOutputs):
    """What ``--kfp`` writes, then handed to the task's KFP outputs.

    A problem handing them over is returned from ``write`` like a missing ``--kfp-output``, so the
    run ends in state ``error`` with that reason, recorded before the task fails.
    """

    def __init__(self, work: str, spec: dict, values: Mapping[str, Any]):
        keys = [key for key, _py, _kind in spec["results"] + spec["artifacts"]]
        super().__init__(kfp_dir=os.path.join(work, "kfp"), outputs_dir=os.path.join(work, "files"),
                         paths={key: os.path.join(work, "outputs", f"{n}.txt") for n, key in enumerate(keys)})
        self.spec, self.values, self.results = spec, values, []

    def write(self, record, secrets: Mapping | None = None) -> str:
        problem = super().write(record, secrets)
        if problem or record.state == "error":
            return problem
        try:
            self.results = self._hand_over(record, dict(secrets or {}))
        except ValueError as exc:
            return str(exc)
        return ""

    def _text(self, key: str) -> str:
        with open(self.paths[key], encoding="utf-8") as fp:
            return fp.read()

    def _hand_over(self, record, secrets: dict) -> list:
        from ..secrets import mask
        from .outputs import METRICS_FILE

        spec, values = self.spec, self.values
        results = []
        for key, _py, kind in spec["results"]:
            text = self._text(key)
            try:
                results.append(typed_result(text, kind))
            except ValueError:
                raise ValueError(f"result {key!r} is {text[:60]!r}, not {kind}: "
                                 f"declare its type in outputs={{{key!r}: ...}}") from None

        for key, py, _kind in spec["artifacts"]:
            url, out = self._text(key), values[py]
            try:
                _copy_artifact(url, out.path, secrets)
            except OSError as exc:
                raise ValueError(f"cannot hand artifact {key!r} to KFP: {exc}") from None
            meta = next((a for a in record.status.output_artifacts if a.get("key") == key), {})
            out.metadata.update({"mlrun_key": key, "mlrun_run_uid": record.uid, "target_path": url,
                                 **{k: meta[k] for k in ("format", "size") if meta.get(k) is not None}})

        with open(os.path.join(self.kfp_dir, METRICS_FILE), encoding="utf-8") as fp:
            metrics = json.load(fp)["metrics"]
        metrics_out = values[spec["metrics"]]
        for metric in metrics:
            metrics_out.log_metric(metric["name"], metric["numberValue"])
        metrics_out.metadata["mlrun_run_uid"] = record.uid

        if spec.get("iterations"):
            page = values[spec["iterations"]]
            _write_text(page.path, mask(iterations_html(record.status.iterations), secrets.values()))
            page.metadata.update({"mlrun_run_uid": record.uid, "iterations": max(len(record.status.iterations) - 1, 0)})
        return results


def iterations_html(rows: Sequence[Sequence[Any]], limit: int = ITERATIONS_HTML_ROWS) -> str:
    """A sweep's iterations table (``status.iterations``: a header row, then one row per iteration) as a page."""
    from ..rundb.lists import html_table

    header, body = ([str(h) for h in rows[0]], rows[1:limit + 1]) if rows else ([], [])
    more = f"<p>{len(rows) - 1 - limit} more rows in iteration_results.csv</p>" if len(rows) - 1 > limit else ""
    return f"<!doctype html><meta charset=\"utf-8\"><title>iterations</title>{html_table(header, body)}{more}\n"


def default_requirement() -> str:
    """What ``packages_to_install`` gets to have this project in the task, when no requirement is given.

    ``$MLRUN_KFP_REQUIREMENT`` when set (a wheel URL the cluster can reach, a ``git+`` URL, ``""``
    for an image that has mlrun); else nothing when the pipeline runs under KFP's local
    ``SubprocessRunner(use_venv=False)`` (the task runs in this interpreter, which has it); else a
    wheel of this project's source tree built here (``mlrun-lite @ file:///.../mlrun_lite-X-py3-none-any.whl``,
    for the local runner's fresh virtual environments).  Never the name alone: the package index
    has an unrelated project called ``mlrun``.
    """
    if REQUIREMENT_ENV in os.environ:
        return os.environ[REQUIREMENT_ENV].strip()
    if _local_runner_in_place():
        return ""
    return f"{DISTRIBUTION} @ file://{local_wheel()}"


def local_wheel(cache: str | None = None) -> str:
    """A wheel of this project built from its source tree, cached by content; its path.

    Built by ``pip wheel --no-deps`` (from a copy of the tree); when pip cannot (offline, it cannot
    fetch the build backend; or it takes longer than ``$MLRUN_KFP_WHEEL_TIMEOUT`` seconds), packed
    directly: the package's files and the installed distribution's metadata.  Raises
    ``InvalidInputError`` when mlrun is not installed from a source tree (give a requirement).
    """
    import shutil
    import tempfile

    root = project_root()
    if root is None:
        raise InvalidInputError("mlrun_component: mlrun is not installed from a source tree, so no wheel can be "
                                f"built here: pass requirement=... or set ${REQUIREMENT_ENV}")
    files = _source_files(root)
    cache = cache or os.environ.get(WHEEL_CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mlrun", "wheels")
    folder = os.path.join(cache, _tree_digest(root, files)[:16])
    built = [f for f in os.listdir(folder) if f.endswith(".whl")] if os.path.isdir(folder) else []
    if built:
        return os.path.join(folder, built[0])
    with tempfile.TemporaryDirectory(prefix="mlrun-wheel-") as tmp:
        wheel = _build_wheel(root, files, tmp)
        os.makedirs(cache, exist_ok=True)
        staging = tempfile.mkdtemp(dir=cache, prefix=".building-")
        shutil.copy2(wheel, staging)
        try:
            os.rename(staging, folder)  # whole or not at all: another process may build the same
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    built = [f for f in os.listdir(folder) if f.endswith(".whl")]
    return os.path.join(folder, built[0])


def _tree_digest(root: str, files: list[str]) -> str:
    """The sha256 (hex) of the source files' names and contents: the wheel cache's key."""
    import hashlib

    digest = hashlib.sha256()
    for rel in files:
        with open(os.path.join(root, rel), "rb") as fp:
            digest.update(rel.encode() + b"\0" + fp.read() + b"\0")
    return digest.hexdigest()


def _build_wheel(root: str, files: list[str], tmp: str) -> str:
    """Build the wheel under ``tmp`` (pip, else packed directly) from a copy of the tree; its path."""
    import shutil
    import subprocess
    import sys

    tree = os.path.join(tmp, "src")
    for rel in files:  # a copy: building in the source tree would leave build/ behind
        os.makedirs(os.path.dirname(os.path.join(tree, rel)), exist_ok=True)
        shutil.copy2(os.path.join(root, rel), os.path.join(tree, rel))
    dist = os.path.join(tmp, "dist")
    try:
        timeout = float(os.environ.get(WHEEL_TIMEOUT_ENV) or DEFAULT_WHEEL_TIMEOUT)
    except ValueError:
        raise InvalidInputError(f"${WHEEL_TIMEOUT_ENV} must be a number of seconds") from None
    with contextlib.suppress(subprocess.TimeoutExpired):  # too slow: the wheel is packed by hand below
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, tree],
                       capture_output=True, timeout=timeout)
    wheels = [f for f in os.listdir(dist) if f.endswith(".whl")] if os.path.isdir(dist) else []
    if not wheels:
        wheels = [pack_wheel(tree, files, dist)]
    return os.path.join(dist, wheels[0])


def pack_wheel(root: str, files: Sequence[str], dist: str) -> str:
    """Pack ``root``'s ``mlrun`` package into a pure-Python wheel in ``dist``; its file name.

    The metadata (name, version, dependencies, the ``mlrun`` command) is the installed distribution's.
    """
    import base64
    import hashlib
    import zipfile
    from importlib import metadata

    try:
        dist_meta = metadata.distribution(DISTRIBUTION)
        text = dist_meta.read_text("METADATA") or dist_meta.read_text("PKG-INFO")
    except metadata.PackageNotFoundError:
        text = None
    if not text:
        raise InvalidInputError("mlrun_component: no metadata of the installed mlrun to build a wheel with: "
                                f"pass requirement=... or set ${REQUIREMENT_ENV}")
    version = dist_meta.version
    info = f"{DISTRIBUTION_FILENAME}-{version}.dist-info"
    entry_points = dist_meta.read_text("entry_points.txt") or "[console_scripts]\nmlrun = mlrun.cli:main\n"
    contents = {rel: Path(root, rel).read_bytes() for rel in files if rel.startswith("mlrun" + os.sep)}
    contents.update({f"{info}/METADATA": text.encode(), f"{info}/entry_points.txt": entry_points.encode(),
                     f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: mlrun\nRoot-Is-Purelib: true\n"
                                      b"Tag: py3-none-any\n"})
    record = []
    for name, data in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name.replace(os.sep, '/')},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    os.makedirs(dist, exist_ok=True)
    name = f"{DISTRIBUTION_FILENAME}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(dist, name), "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, data in contents.items():
            wheel.writestr(path.replace(os.sep, "/"), data)
        wheel.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return name


def project_root() -> str | None:
    """The source tree this mlrun is installed from (editable install or checkout), else ``None``."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        with open(os.path.join(root, "pyproject.toml"), encoding="utf-8") as fp:
            text = fp.read()
    except OSError:
        return None
    return root if re.search(rf'^name\s*=\s*"{re.escape(DISTRIBUTION)}"\s*$', text, re.M) else None


def _source_files(root: str) -> list[str]:
    files = [name for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE")
             if os.path.isfile(os.path.join(root, name))]
    for folder, dirs, names in os.walk(os.path.join(root, "mlrun")):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        files += sorted(os.path.relpath(os.path.join(folder, n), root) for n in names if not n.endswith(".pyc"))
    return files


def _local_runner_in_place() -> bool:
    """Whether KFP's local runner is set up to run tasks in this very interpreter."""
    import sys

    config = sys.modules.get("kfp.local.config")
    instance = getattr(getattr(config, "LocalExecutionConfig", None), "instance", None)
    runner = getattr(instance, "runner", None)
    return type(runner).__name__ == "SubprocessRunner" and getattr(runner, "use_venv", True) is False


def _compile_function(source: str, function: str):
    """The component function from its generated source, with that source where ``inspect`` finds it."""
    import hashlib
    import linecache
    from typing import NamedTuple

    from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Model, Output

    filename = f"<mlrun-component-{hashlib.sha256(source.encode()).hexdigest()[:12]}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"Input": Input, "Output": Output, "Artifact": Artifact, "Dataset": Dataset, "HTML": HTML,
                 "Markdown": Markdown, "Metrics": Metrics, "Model": Model, "NamedTuple": NamedTuple,
                 "__name__": "mlrun_component"}
    exec(compile(source, filename, "exec", dont_inherit=True), namespace)  # no postponed annotations
    return namespace[function]


class _Names:
    """Python (and KFP) names of the component's inputs and outputs, each used once."""

    def __init__(self):
        self.taken: set[str] = set()

    def take(self, base: str, exact: bool = False, what: str = "") -> str:
        base = _identifier(base, "value")
        if exact and base in self.taken:
            raise InvalidInputError(f"mlrun_component: {what or base} would be named {base!r}, "
                                    "which another output already has")
        name, count = base, 1
        while name in self.taken:
            count += 1
            name = f"{base}_{count}"
        self.taken.add(name)
        return name


def _identifier(text: str, fallback: str) -> str:
    name = kfp_name(str(text)) or fallback
    if name[0].isdigit():
        name = f"v_{name}"
    return f"{name}_" if keyword.iskeyword(name) or name in ("locals", "run_step") else name


def _check_key(key: Any, what: str) -> None:
    if not isinstance(key, str) or not key or "=" in key:
        raise InvalidInputError(f"mlrun_component: {what} key {key!r} must be a non-empty string without '='")


def _output_kinds(outputs: Sequence[str] | Mapping[str, Any]) -> dict[str, str]:
    if isinstance(outputs, str):
        outputs = [outputs]
    pairs = outputs.items() if isinstance(outputs, Mapping) else ((key, None) for key in outputs)
    kinds: dict[str, str] = {}
    for key, kind in pairs:
        if not isinstance(key, str) or not kfp_name(key):
            raise InvalidInputError(f"mlrun_component: output {key!r} has no letters or digits to name it by")
        if kind is None:
            extension = key.rpartition(".")[2].lower() if "." in key else ""
            kind = _EXTENSION_KINDS.get(extension, "Artifact") if extension else "float"
        kind = getattr(kind, "__name__", kind)
        if kind not in RESULT_TYPES and kind not in ARTIFACT_KINDS:
            raise InvalidInputError(f"mlrun_component: output {key!r} has type {kind!r}; use one of "
                                    f"{', '.join([*RESULT_TYPES, *ARTIFACT_KINDS])}")
        kinds[key] = kind
    return kinds


def _value_kind(value: Any) -> str | None:
    """``int``, ``str``, ...: the parameter type of a constant or pipeline value; ``artifact`` for an artifact."""
    for cls, kind in _CONSTANT_TYPES:
        if isinstance(value, cls):
            return kind
    channel_type = getattr(value, "channel_type", None)
    if not isinstance(channel_type, str):
        return None
    if "." in channel_type or "@" in channel_type:  # 'system.Artifact@0.0.1': an artifact
        return "artifact"
    return _CHANNEL_TYPES.get(channel_type, "str")


def _is_pipeline_value(value: Any) -> bool:
    return isinstance(getattr(value, "channel_type", None), str) or isinstance(value, str) and "{{" in value


def _annotation(kind: str, direction: str) -> str:
    return f"{direction}[Artifact]" if kind == "artifact" else kind


def _read_code(target: str) -> str:
    try:
        size = os.path.getsize(target)
        if size > EMBED_LIMIT:
            raise InvalidInputError(f"mlrun_component: {target} is {size} bytes, more than the {EMBED_LIMIT} a "
                                    "component carries: put it in the image and pass embed=False")
        with open(target, encoding="utf-8") as fp:
            return fp.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"mlrun_component: cannot read {target}: {exc}") from None


def typed_result(text: str, kind: str) -> Any:
    """A result's text (as ``--kfp`` writes it: strings as is, the rest JSON) as the declared type."""
    if kind == "str":
        return text
    value = json.loads(text)
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == "int" and isinstance(value, (int, float)) and not isinstance(value, bool) and value == int(value):
        return int(value)
    if kind == "bool" and isinstance(value, bool) or kind == "list" and isinstance(value, list) \
            or kind == "dict" and isinstance(value, dict):
        return value
    raise ValueError(kind)


def _write_text(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fp:
        fp.write(text)


def _copy_artifact(url: str, path: str, secrets: Mapping) -> None:
    """The artifact's bytes at ``path``, through its data store (any failure an ``OSError``)."""
    from ..datastore import get_item
    from ..errors import MLRunError

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        get_item(url, secrets).download(path)
    except (MLRunError, ImportError) as exc:
        raise OSError(str(exc)) from None
