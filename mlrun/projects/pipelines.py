"""Running a project's workflow: MLRun 1.x's workflow file, on engine ``local`` or ``kfp``.

    # workflow.py
    import mlrun

    def pipeline(lr: float = 0.1):
        project = mlrun.get_current_project()
        train = project.run_function("train", params={"lr": lr}, outputs=["accuracy", "model.txt"])
        project.run_function("validate", inputs={"model.txt": train.outputs["model.txt"]})

Engine ``local``: the handler runs here and each ``run_function`` is a run, in order; a step's ``outputs`` are
its results and artifacts' paths.  Engine ``kfp``: the same handler is a ``@dsl.pipeline`` whose
``run_function`` calls add Lightweight Python Components (``mlrun.kfp.mlrun_component``), executed by KFP's
local runner here, or sent to the KFP endpoint ``$MLRUN_KFP_URL`` when one is set.  Either way every step's run
is labelled ``workflow=<id>`` and the workflow itself is a record in the run store (kind label ``workflow``:
state, steps, start and end), listed with the project's runs and shown on the web UI's workflow page.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidInputError, MLRunError

#: the engines ``project.run`` knows
ENGINES = ("local", "kfp")
#: the KFP endpoint to send pipelines to (unset: KFP's local runner)
KFP_URL_ENV = "MLRUN_KFP_URL"
#: handler names a workflow file is searched for, in order, when the workflow names none
DEFAULT_HANDLERS = ("pipeline", "kfpipeline")

_loaded: dict = {}  # (path, mtime, size) -> the workflow file's module


class _PipelineContext(threading.local):
    """What a workflow's steps need to know: the project, the workflow's id, the engine, the steps so far."""

    def __init__(self):
        self.project = None
        self.workflow_id = ""
        self.engine = ""
        self.steps: list = []

    def set(self, project, workflow_id: str = "", engine: str = "") -> None:
        self.project, self.workflow_id, self.engine, self.steps = project, workflow_id, engine, []

    def clear(self) -> None:
        self.set(None)


#: MLRun 1.x's ``mlrun.projects.pipeline_context``: ``pipeline_context.project`` inside a workflow file
pipeline_context = _PipelineContext()


class WorkflowRun:
    """A workflow's run (MLRun 1.x's pipeline run status): ``run_id``, ``state``, ``steps`` (run objects, or
    the step records' mappings under kfp), ``error``, ``outputs`` (KFP's, under kfp)."""

    def __init__(self, name: str, run_id: str, engine: str, state: str, steps: list, error: str = "",
                 outputs: Any = None):
        self.workflow, self.run_id, self.engine, self.state = name, run_id, engine, state
        self.steps, self.error, self.outputs = steps, error, outputs

    def wait_for_completion(self, timeout: float | None = None) -> str:
        return self.state  # both engines return once the workflow ended

    def __repr__(self) -> str:
        return f"<WorkflowRun {self.workflow} id={self.run_id} state={self.state} steps={len(self.steps)}>"


def run_workflow(project, entry: Mapping, arguments: dict, artifact_path: str = "", handler: str | None = None,
                 engine: str = "local") -> WorkflowRun:
    """Run the workflow ``entry`` (``name``, ``path``) of ``project`` on ``engine``; record it; return its run.
    A failing step ends the workflow in state ``error`` (recorded, then raised as ``RunError``)."""
    import uuid

    from ..runtimes.utils import RunError

    if engine not in ENGINES:
        raise InvalidInputError(f"unknown workflow engine {engine!r} (expected one of: {', '.join(ENGINES)})")
    pipeline = load_workflow(project, entry["path"], handler)
    workflow_id = uuid.uuid4().hex
    record = _workflow_record(project, entry["name"], workflow_id, engine, arguments)
    saved_path = project.artifact_path
    if artifact_path:
        project.artifact_path = artifact_path
    pipeline_context.set(project, workflow_id, engine)
    outputs, error = None, ""
    try:
        if engine == "local":
            pipeline(**arguments)
        else:
            outputs = _run_kfp(pipeline, entry["name"], arguments, project)
    except RunError as exc:
        error = str(exc)
    except MLRunError as exc:
        error = str(exc)
    except RuntimeError as exc:  # KFP's local runner: a failed task fails the pipeline
        error = str(exc).splitlines()[0] if str(exc) else "the pipeline failed"
    finally:
        steps = list(pipeline_context.steps)
        pipeline_context.clear()
        project.artifact_path = saved_path
    if engine == "kfp":
        steps = _step_records(workflow_id)
    record.status.outputs = {"steps": [_step_summary(s) for s in steps]}
    if isinstance(outputs, Mapping) and outputs.get("kfp_run_id") and not error:
        record.metadata.labels["kfp_run_id"] = str(outputs["kfp_run_id"])  # sent to KFP: it runs there, on
        record.touch()
    else:
        record.finish(error)
    _store(record, project)
    run = WorkflowRun(entry["name"], workflow_id, engine, record.status.state, steps, error, outputs)
    if error:
        raise RunError(f"workflow {entry['name']} ({workflow_id}) failed: {error}", run)
    return run


def load_workflow(project, path: str, handler: str | None):
    """The handler of the workflow file ``path`` (relative to the project's folder)."""
    import importlib.util

    from ..errors import error_message

    full = project._path(path)
    if not os.path.isfile(full):
        raise InvalidInputError(f"workflow file not found: {path}")
    stat = os.stat(full)
    key = (os.path.realpath(full), stat.st_mtime_ns, stat.st_size)
    module = _loaded.get(key)
    if module is None:
        # imported as a file of its own (not compiled here): KFP reads the pipeline's annotations as types
        spec = importlib.util.spec_from_file_location("mlrun_workflow", full)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise MLRunError(f"cannot load workflow file {path}: {error_message(exc)}") from None
        _loaded.clear()  # one workflow file kept: the next run of the same file reuses it
        _loaded[key] = module
    names = [handler] if handler else list(DEFAULT_HANDLERS)
    found = next((getattr(module, n) for n in names if callable(getattr(module, n, None))), None)
    if found is None:
        raise InvalidInputError(f"workflow file {path} has no function {' or '.join(repr(n) for n in names)}")
    return found


def kfp_step(project, fn, handler: str | None, name: str, params: Mapping, inputs: Mapping | None, outputs,
             hyperparams, hyper_param_options, selector: str, artifact_path: str, labels: Mapping | None):
    """A pipeline step running ``fn``'s handler (``mlrun_component``); ``step.outputs[KEY]`` by mlrun key."""
    from ..kfp import mlrun_component

    options = dict(hyper_param_options.to_dict() if hasattr(hyper_param_options, "to_dict")
                   else hyper_param_options or {})
    if selector:
        options["selector"] = selector
    import shutil
    import tempfile

    name = name or fn.metadata.name
    folder = tempfile.mkdtemp(prefix="mlrun-step-")
    try:  # the component carries the code; its file's name is the step's run name, as on engine local
        target = os.path.join(folder, f"{name}.py")
        code = fn.code  # a notebook's code cells too
        if not code:
            raise InvalidInputError(f"function {name!r} has no code to run as a pipeline step")
        with open(target, "w", encoding="utf-8") as fp:
            fp.write(code)
        task = mlrun_component(target, params=params, inputs=dict(inputs or {}), outputs=outputs, name=name,
                               handler=handler or fn.spec.default_handler, workflow=pipeline_context.workflow_id,
                               project=project.name, out_path=artifact_path, labels=labels, hyperparams=hyperparams,
                               hyper_options=options or None, embed=True,
                               secrets=[("file", path) for path in project._secret_files])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return _KfpStep(task)


class _KfpStep:
    """A KFP task whose ``outputs`` also answer to mlrun's keys (``model.txt`` for KFP's ``model_txt``)."""

    def __init__(self, task):
        self.task = task
        self.outputs = _StepOutputs(task.outputs)

    def __getattr__(self, name: str):
        return getattr(self.task, name)


class _StepOutputs(Mapping):
    def __init__(self, outputs):
        self._outputs = outputs

    def __getitem__(self, key: str):
        from ..kfp.ops import kfp_name

        return self._outputs[key] if key in self._outputs else self._outputs[kfp_name(key)]

    def __iter__(self):
        return iter(self._outputs)

    def __len__(self) -> int:
        return len(self._outputs)


def _run_kfp(pipeline, name: str, arguments: dict, project):
    """Run ``pipeline`` as a KFP pipeline: on ``$MLRUN_KFP_URL`` when set (submitted: the workflow's record stays
    ``running``, labelled with KFP's run id; its steps record themselves), else with KFP's local runner."""
    try:
        from kfp import dsl
    except ImportError as exc:
        from ..registry import install_hint

        raise ImportError(f"engine kfp needs the Kubeflow Pipelines SDK: {install_hint('kfp', quote=chr(39))}") \
            from exc
    url = os.environ.get(KFP_URL_ENV, "")
    if url:
        import kfp

        run = kfp.Client(host=url).create_run_from_pipeline_func(dsl.pipeline(name=f"{project.name}-{name}")(pipeline),
                                                                 arguments=arguments)
        return {"kfp_run_id": run.run_id}
    from kfp import local

    # the runner first: the steps are built when the pipeline is, and install nothing when it runs in place
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=os.path.join(project.context, ".kfp"))
    return getattr(dsl.pipeline(name=f"{project.name}-{name}")(pipeline)(**arguments), "outputs", None)


def _workflow_record(project, name: str, workflow_id: str, engine: str, arguments: dict):
    from ..model import RunRecord

    record = RunRecord()
    meta = record.metadata
    meta.name, meta.uid, meta.project = name, workflow_id, project.name
    meta.labels = {"kind": "workflow", "workflow": workflow_id, "engine": engine}
    record.spec.parameters = dict(arguments)
    record.start()
    _store(record, project)
    return record


def _store(record, project) -> None:
    from ..run import as_secrets
    from ..rundb import get_run_db

    get_run_db().store_run(record, as_secrets([("inline", dict(project._secrets))]) if project._secrets else None)


def _step_records(workflow_id: str) -> list[dict]:
    from ..rundb import get_run_db

    runs = get_run_db().list_runs(labels={"workflow": workflow_id})
    return sorted((r for r in runs if (r.get("labels") or {}).get("kind") != "workflow"),
                  key=lambda r: r.get("start_time") or "")


def _step_summary(step) -> dict:
    """A step as the workflow's record lists it: name, uid, state."""
    if isinstance(step, Mapping):
        return {"name": step.get("name", ""), "uid": step.get("uid", ""), "state": step.get("state", "")}
    return {"name": step.metadata.name, "uid": step.metadata.uid, "state": step.state()}
