"""Task templates: a run described before it runs, built in code and chained.

    task = new_task("train", params={"p1": 5}).with_input("data", "s3://bucket/data.csv") \\
        .with_secrets("file", "secrets.txt").with_hyper_params({"p2": [1, 2]}, selector="max.accuracy")
    run = mlrun.run_start(task, handler=train)

``RunTemplate`` has ``.metadata`` (``name``, ``project``, ``labels``, ``annotations``) and ``.spec``
(``parameters``, ``input_objects``, ``output_artifacts``, ``output_path``, ``secret_sources``, ``hyperparams``,
``param_file``, ``selector``, ``hyper_options``, ``handler``) as attributes.  ``to_dict()`` is a record mapping
``RunRecord.from_dict`` takes (the output path as ``spec.default_output_path``, the sweep's file and selector
in ``spec.hyper_options``).  Inline secret values stay in the template: its mapping and YAML name their keys
only.  ``new_task(...)`` (MLRun 1.x) and ``NewRun(...)`` (the 2019 name) build one.
"""
from __future__ import annotations

import copy as _copy
from collections.abc import Callable, Mapping
from typing import Any

from .errors import InvalidInputError
from .model import dump_yaml

#: MLRun 1.x's names of sweep options (``HyperParamOptions``), and the ones that mean nothing here
MLRUN1X_OPTIONS = {"parallel_runs": "parallel", "dask_cluster_uri": "dask"}
IGNORED_OPTIONS = ("teardown_dask",)


class TemplateMetadata:
    """Who the run is: ``name``, ``project``, ``labels``, ``annotations``."""

    def __init__(self, name: str = "", project: str = "", labels: Mapping | None = None):
        self.name, self.project = name or "", project or ""
        self.labels = {str(k): str(v) for k, v in (labels or {}).items()}
        self.annotations: dict = {}

    def to_dict(self) -> dict:
        data = {"name": self.name, "project": self.project, "labels": dict(self.labels)}
        if self.annotations:
            data["annotations"] = dict(self.annotations)
        return data


class TemplateSpec:
    """What the run is asked to do (see the module's text)."""

    def __init__(self):
        self.parameters: dict = {}
        self.input_objects: list = []
        self.output_artifacts: list = []
        self.output_path = ""
        self.secret_sources: list = []
        self.hyperparams: dict = {}
        self.param_file = ""
        self.selector = ""
        #: the other sweep options (strategy, max_iterations, stop_condition, max_errors, parallel, ...)
        self.hyper_options: dict = {}
        #: the function to call: a name in the run's file, or a Python callable (run in-process)
        self.handler: str | Callable | None = None
        self._inline: dict = {}

    @property
    def inputs(self) -> dict:
        """Input keys and the URLs they come from (MLRun 1.x's ``spec.inputs``; set it to replace them all)."""
        return {i["key"]: i["path"] for i in self.input_objects}

    @inputs.setter
    def inputs(self, inputs: Mapping) -> None:
        self.input_objects = [{"key": str(k), "path": str(v)} for k, v in dict(inputs or {}).items()]

    def to_dict(self) -> dict:
        options = dict(self.hyper_options)
        if self.param_file:
            options["param_file"] = self.param_file
        if self.selector:
            options["selector"] = self.selector
        data = {"parameters": _copy.deepcopy(self.parameters), "input_objects": _copy.deepcopy(self.input_objects),
                "output_artifacts": _copy.deepcopy(self.output_artifacts), "default_output_path": self.output_path,
                "secret_sources": [dict(s) for s in self.secret_sources],
                "hyperparams": _copy.deepcopy(self.hyperparams), "hyper_options": options}
        if isinstance(self.handler, str) and self.handler:
            data["runtime"] = {"kind": "", "command": "", "handler": self.handler}
        return data


class RunTemplate:
    """A run to start: ``.metadata`` and ``.spec``, changed in place by chainable ``with_*`` methods."""

    def __init__(self, name: str = "", project: str = "", labels: Mapping | None = None):
        self.metadata = TemplateMetadata(name, project, labels)
        self.spec = TemplateSpec()

    def with_params(self, **params) -> RunTemplate:
        """Set parameters (added to those already set)."""
        self.spec.parameters.update(params)
        return self

    def with_input(self, key: str, path: str) -> RunTemplate:
        """Read input ``key`` from ``path`` (a local path or a URL); a key given again is replaced."""
        self.spec.input_objects = [i for i in self.spec.input_objects if i["key"] != key]
        self.spec.input_objects.append({"key": str(key), "path": str(path)})
        return self

    def with_output(self, key: str, target: str) -> RunTemplate:
        """Write artifact ``key`` to ``target`` (``-o key=target``)."""
        self.spec.output_artifacts = [o for o in self.spec.output_artifacts if o["key"] != key]
        self.spec.output_artifacts.append({"key": str(key), "path": str(target)})
        return self

    def with_secrets(self, kind: str, source: Any) -> RunTemplate:
        """Add a secret source: ``("file", "secrets.txt")``, ``("env", "A,B")`` or ``("inline", {"KEY": "value"})``.

        Inline values stay in the template (``secret_pairs``); its mapping keeps their keys only.
        """
        if kind == "inline":
            if not isinstance(source, Mapping):
                raise InvalidInputError(f"inline secrets must be a mapping, got {type(source).__name__}")
            self.spec._inline.update({str(k): str(v) for k, v in source.items()})
            self.spec.secret_sources = [s for s in self.spec.secret_sources if s["kind"] != "inline"]
            source = sorted(self.spec._inline)
        elif not isinstance(source, str):
            raise InvalidInputError(f"a {kind} secret source must be text, got {type(source).__name__}")
        self.spec.secret_sources.append({"kind": str(kind), "source": source})
        return self

    def with_hyper_params(self, hyperparams: Mapping, selector: str | None = None, strategy: str | None = None,
                          **options) -> RunTemplate:
        """Sweep these values (``{name: [values]}``); ``selector`` (``max.KEY``/``min.KEY``) picks the best iteration;
        ``options`` are the other sweep options (``max_iterations``, ``stop_condition``, ``parallel``, ...)."""
        self.spec.hyperparams = dict(hyperparams)
        return self._hyper_options(selector, strategy, options)

    def with_param_file(self, param_file: str, selector: str | None = None, strategy: str | None = None,
                        **options) -> RunTemplate:
        """Sweep the values of a CSV (header, one row per iteration) or JSON file."""
        self.spec.param_file = param_file
        return self._hyper_options(selector, strategy, options)

    def _hyper_options(self, selector, strategy, options: Mapping) -> RunTemplate:
        if selector:
            self.spec.selector = selector
        if strategy:
            options = {**options, "strategy": strategy}
        options = {MLRUN1X_OPTIONS.get(k, k): v for k, v in options.items() if k not in IGNORED_OPTIONS}
        if options.get("selector"):
            self.spec.selector = options.pop("selector")
        if options.get("param_file"):
            self.spec.param_file = options.pop("param_file")
        self.spec.hyper_options.update(options)
        return self

    def set_label(self, key: str, value: Any) -> RunTemplate:
        self.metadata.labels[str(key)] = str(value)
        return self

    def secret_pairs(self) -> list[tuple[str, Any]]:
        """The secret sources as ``(kind, source)`` pairs, inline values included (for running it)."""
        return [(s["kind"], dict(self.spec._inline) if s["kind"] == "inline" else s["source"])
                for s in self.spec.secret_sources]

    def copy(self) -> RunTemplate:
        return _copy.deepcopy(self)

    def to_dict(self) -> dict:
        return {"metadata": self.metadata.to_dict(), "spec": self.spec.to_dict()}

    def to_yaml(self) -> str:
        return dump_yaml(self.to_dict())

    def __repr__(self) -> str:
        return f"<RunTemplate {self.metadata.name or '?'} params={self.spec.parameters!r}>"


def new_task(name: str | None = None, project: str | None = None, handler: str | Callable | None = None,
             params: Mapping | None = None, hyper_params: Mapping | None = None, param_file: str | None = None,
             selector: str | None = None, hyper_param_options: Mapping | None = None,
             inputs: Mapping | list | None = None, outputs: Mapping | list | None = None, in_path: str | None = None,
             out_path: str | None = None, artifact_path: str | None = None, secrets: Any = None,
             base: RunTemplate | None = None, labels: Mapping | None = None) -> RunTemplate:
    """A task template (MLRun 1.x's ``new_task``; ``NewRun`` is its 2019 name).

    ``inputs``: ``{key: url}`` (an empty url: ``in_path/key``) or ``[{key, path}]``; ``outputs``: ``{key: target}``
    (a list of bare names only names a pipeline's outputs: nothing to record); ``artifact_path`` (or ``out_path``):
    where artifacts go; ``secrets``: ``[(kind, source)]``, ``["file=secrets.txt"]`` or ``[{kind, source}]``;
    ``base``: a template to start from (copied).
    """
    task = base.copy() if base is not None else RunTemplate()
    task.metadata.name = name or task.metadata.name
    task.metadata.project = project or task.metadata.project
    for key, value in (labels or {}).items():
        task.set_label(key, value)
    task.spec.handler = handler or task.spec.handler
    task.with_params(**dict(params or {}))
    for key, path in _pairs(inputs, "inputs"):
        task.with_input(key, path or _join(in_path, key))
    for key, target in _pairs(outputs, "outputs"):
        task.with_output(key, target)
    task.spec.output_path = artifact_path or out_path or task.spec.output_path
    for kind, source in _secret_pairs(secrets):
        task.with_secrets(kind, source)
    if hyper_params or selector or hyper_param_options:
        task.spec.hyperparams = dict(hyper_params or task.spec.hyperparams)
        task._hyper_options(selector, None, dict(hyper_param_options or {}))
    if param_file:
        task.spec.param_file = param_file
    return task


NewRun = new_task  # the 2019 name


def _pairs(items, what: str) -> list[tuple[str, str]]:
    if not items:
        return []
    if isinstance(items, Mapping):
        return [(str(k), "" if v is None else str(v)) for k, v in items.items()]
    if isinstance(items, list):
        if all(isinstance(i, str) for i in items):
            return []  # MLRun 1.x's output names for pipelines: no target to record
        if all(isinstance(i, Mapping) and "key" in i for i in items):
            return [(str(i["key"]), str(i.get("path") or "")) for i in items]
    raise InvalidInputError(f"{what} must be a mapping of keys to paths, got {type(items).__name__}")


def _join(base: str | None, key: str) -> str:
    if not base:
        return key
    return f"{base.rstrip('/')}/{key}"


def _secret_pairs(secrets) -> list[tuple[str, Any]]:
    if not secrets:
        return []
    if isinstance(secrets, Mapping):  # inline values
        return [("inline", secrets)]
    pairs = []
    for item in secrets:
        if isinstance(item, str):
            kind, sep, source = item.partition("=")
            if not sep:
                raise InvalidInputError(f"secret source {item!r} must be KIND=SOURCE (file=PATH, env=A,B)")
            pairs.append((kind, source))
        elif isinstance(item, Mapping):
            pairs.append((item.get("kind", ""), item.get("source")))
        else:
            kind, source = item
            pairs.append((kind, source))
    return pairs
