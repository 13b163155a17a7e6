"""Running code from Python the way the CLI does: a ``RunRequest``, or ``run_function(file_or_url, params=...)``."""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .config import default_dbpath
from .context import get_or_create_ctx as get_or_create_ctx  # where 2019 code imports it from
from .errors import StoreError
from .model import RunRecord, check_uid, now_iso
from .registry import load
from .secrets import SecretsStore


class OutputWriter(Protocol):
    """What ``run_function(kfp=...)`` takes (``mlrun.kfp.KfpOutputs``): files written from the final record."""

    def check(self) -> str:
        """Why the files could not be written (before the run starts), ``""`` when they can."""

    def write(self, record: RunRecord, secrets: Mapping | None = None) -> str:
        """Write them from ``record`` (``secrets``: names to values, hidden); a problem, else ``""``."""


def new_run(name: str = "", params: Mapping | None = None, inputs: Mapping[str, str] | None = None,
            outputs: Mapping[str, str] | None = None, out_path: str = "", project: str = "",
            labels: Mapping[str, str] | None = None, uid: str = "", workflow: str = "", command: str = "",
            handler: str = "", args: Sequence[str] = (), kind: str = "", mode: str = "") -> RunRecord:
    """A run record in state ``created``: what a launcher sends to a runtime."""
    import uuid

    if uid:  # it names files (--save-to DIR, stores keyed by uid)
        check_uid(uid)
    record = RunRecord()
    meta, spec = record.metadata, record.spec
    meta.name, meta.project, meta.uid = name, project, uid or uuid.uuid4().hex
    meta.labels = {k: str(v) for k, v in (labels or {}).items()}
    if workflow:
        meta.labels["workflow"] = workflow
    from .config import owner

    meta.labels.setdefault("owner", owner())
    spec.runtime = {"kind": kind, "command": command}
    if handler:
        spec.runtime["handler"] = handler
    if args:
        spec.runtime["args"] = [str(a) for a in args]
    if mode:
        spec.runtime["mode"] = mode
    spec.parameters = dict(params or {})
    spec.input_objects = [{"key": k, "path": v} for k, v in (inputs or {}).items()]
    spec.output_artifacts = [{"key": k, "path": v} for k, v in (outputs or {}).items()]
    spec.default_output_path = out_path
    record.status.start_time = record.status.last_update = now_iso()
    return record


def as_secrets(secrets) -> SecretsStore:
    """Accept a ``SecretsStore``, a mapping of inline values or ``[(kind, source), ...]`` pairs."""
    if isinstance(secrets, SecretsStore):
        return secrets
    store = SecretsStore()
    if isinstance(secrets, Mapping):
        store.add_source("inline", secrets)
    elif secrets:
        for kind, source in secrets:
            store.add_source(kind, source)
    return store


@dataclass
class RunRequest:
    """What to run, with what: ``RunRequest(target, params=...).run()`` runs it and returns the final record.

    ``target``: a Python file (run in a local child process), a function's ``http(s)://`` URL, or a Python
    callable (run in this process: ``mlrun.runtimes.inproc``).
    ``secrets``: a mapping of inline values, or ``[("file", "secrets.txt"), ("env", "A,B")]``.
    ``hyperparams`` (``{name: [values]}``) and ``hyper_options`` (strategy, selector, parallel, ...)
    make it a hyper-parameter run: the returned record is the parent (see ``mlrun.hyper``).
    ``record``: run this record (in state ``created``) instead of one built from the fields.
    ``mode``: ``"noctx"`` runs a file that never calls ``get_or_create_ctx``, parameters as ``--KEY VALUE`` arguments.
    A failing run does not raise: the returned record is in state ``error`` with the reason.
    Bad input (missing file, unknown handler, unreadable secrets) raises ``InvalidInputError``
    before anything is recorded.
    """

    target: Any
    params: Mapping | None = None
    inputs: Mapping[str, str] | None = None
    outputs: Mapping[str, str] | None = None
    secrets: Any = None
    name: str = ""
    handler: str = ""
    args: Sequence[str] = ()
    out_path: str = ""
    project: str = ""
    labels: Mapping[str, str] | None = None
    uid: str = ""
    workflow: str = ""
    rundb: str | None = None
    stream: bool = True
    record: RunRecord | None = None
    hyperparams: Mapping[str, list] | None = None
    hyper_options: Mapping | None = None
    #: ``"noctx"``: a file that never calls ``get_or_create_ctx``, its parameters passed as ``--KEY VALUE`` arguments
    mode: str = ""
    _secrets: SecretsStore | None = field(default=None, init=False, repr=False, compare=False)

    def secret_store(self) -> SecretsStore:
        """The run's secrets (read from their sources once)."""
        if self._secrets is None:
            self._secrets = as_secrets(self.secrets)
        return self._secrets

    def run(self) -> RunRecord:
        """Record the run, run it, record its end and return the final record (secrets hidden)."""
        runtime, record, sweep, db = self._start()
        secrets, rundb = self.secret_store(), self.rundb or default_dbpath()
        if sweep is not None:  # the record is the parent; each iteration is a run of its own
            outcome = sweep.run(runtime, record, secrets, rundb, stream=self.stream)
        else:
            outcome = runtime.run(record, secrets, rundb, stream=self.stream)
        # the one record that leaves from here on (store, --save-to, KFP files, the caller), secrets hidden
        final = masked_record(outcome.record, secrets)
        if outcome.stored and final is outcome.record:  # the run committed its own end, nothing to hide: only the log
            if outcome.log:
                db.store_log(final.uid, outcome.log, append=False)
        elif outcome.log:
            db.store_run_and_log(final, outcome.log)
        else:
            db.store_run(final)
        return final

    def refuse(self, reason: str) -> RunRecord:
        """Record the run in state ``error`` with ``reason`` without running it (a check before the run failed)."""
        _runtime, record, _sweep, db = self._start(refused=True)
        final = record.copy()
        final.fail(reason)
        final = masked_record(final, self.secret_store())  # the reason may name a file
        db.store_run(final)
        return final

    def _start(self, refused: bool = False):
        """Check the request and store the run's first record: (runtime, record, sweep or None, run store)."""
        from .rundb import get_run_db
        from .runtimes import get_runtime

        runtime = get_runtime(self.target)
        secrets = self.secret_store()
        record = self.record if self.record is not None else new_run(
            name=self.name, params=self.params, inputs=self.inputs, outputs=self.outputs, out_path=self.out_path,
            project=self.project, labels=self.labels, uid=self.uid, workflow=self.workflow, command=runtime.command,
            handler=self.handler, args=self.args, kind=runtime.kind, mode=self.mode)
        check_mode(record.spec.runtime, runtime.kind)
        record.spec.secret_sources = secrets.sources
        sweep = None
        if self.hyperparams or self.hyper_options:
            record.spec.hyperparams, record.spec.hyper_options = dict(self.hyperparams or {}), dict(
                self.hyper_options or {})
        if record.spec.hyperparams or record.spec.hyper_options:
            from .hyper import Sweep

            sweep = Sweep(record, secrets.items())  # bad sweep options fail here, before anything is stored
        runtime.validate(record)
        secrets.register()  # this process's own output (errors, progress) hides them too
        if runtime.stores_running and not refused and record.state == "created":
            record.start()  # the one write at the start: the run's process finds it running and does not write again
        db = get_run_db(self.rundb or default_dbpath())
        db.store_run(record, secrets)
        return runtime, record, sweep, db


#: run modes: ``""`` (the code uses its context), ``"noctx"`` (a script without one: parameters as arguments)
RUN_MODES = ("", "noctx")


def check_mode(runtime_spec: Mapping, kind: str) -> None:
    """Refuse (``InvalidInputError``) a run mode that is unknown or does not fit the runtime (``spec.runtime``)."""
    from .errors import InvalidInputError

    mode = runtime_spec.get("mode") or ""
    if mode not in RUN_MODES:
        raise InvalidInputError(f"unknown run mode {mode!r} (expected: noctx)")
    if mode and (kind != "local" or runtime_spec.get("handler")):
        raise InvalidInputError("mode noctx runs a Python file as a script (no handler, no function URL)")


def run_with_kfp(request: RunRequest, kfp: OutputWriter) -> RunRecord:
    """Run ``request`` and write what Kubeflow Pipelines reads from the final record (``mlrun.kfp.KfpOutputs``).

    A folder it cannot write ends the run in state ``error``: before the code runs when ``kfp.check()``
    tells, else after it (the record says why, what the run did stays recorded).
    """
    problem = kfp.check()
    if problem:  # the pipeline could not read the results: fail before the code runs, not after
        return request.refuse(problem)
    final = request.run()
    secrets = request.secret_store()
    problem = kfp.write(final, secrets.items())
    if problem and final.state != "error":
        final.fail(problem)
        final = masked_record(final, secrets)  # the problem may name a file
        from .rundb import get_run_db

        get_run_db(request.rundb or default_dbpath()).store_run(final)
    return final


def run_function(target: str, params: Mapping | None = None, inputs: Mapping[str, str] | None = None,
                 outputs: Mapping[str, str] | None = None, secrets=None, *, save_to: str = "",
                 kfp: OutputWriter | None = None, **fields) -> RunRecord:
    """Run a file locally (child process) or a function by URL, record it and return the final record.

    The convenience that builds a ``RunRequest`` from its fields (``params``, ``inputs``, ``outputs``,
    ``secrets``; by keyword: ``name``, ``handler``, ``args``, ``out_path``, ``project``, ``labels``, ``uid``,
    ``workflow``, ``rundb``, ``stream``, ``record``, ``hyperparams``, ``hyper_options``).  Then, after the run:
    ``kfp`` writes what Kubeflow Pipelines reads (``run_with_kfp``), ``save_to`` saves the record as YAML
    (``save_record``).  ``target`` may be a function object (``mlrun.new_function``): then it is ``fn.run(...)``
    (MLRun 1.x's ``run_function(fn, handler=..., params=..., local=True)``), which returns the run object.
    """
    if hasattr(target, "run") and hasattr(target, "metadata") and not callable(target):  # a function object
        return _run_function_object(target, params=params, inputs=inputs, secrets=secrets, **fields)
    request = RunRequest(target, params=params, inputs=inputs, outputs=outputs, secrets=secrets, **fields)
    final = run_with_kfp(request, kfp) if kfp is not None else request.run()
    if save_to:
        save_record(final, save_to, request.secret_store().items())
    return final


def _run_function_object(fn, hyper_options: Mapping | None = None, hyper_param_options=None, out_path: str = "",
                         base_task=None, **fields):
    """``run_function`` of a function object: ``fn.run`` with MLRun 1.x's ``run_function`` names translated."""
    fields.pop("local", None)  # every kind runs on this machine
    for ignored in ("auto_build", "schedule", "project_object", "notifications", "builder_env", "reset_on_run"):
        fields.pop(ignored, None)
    return fn.run(base_task, hyper_param_options=hyper_param_options or hyper_options, artifact_path=fields.pop(
        "artifact_path", "") or out_path, local=True, **fields)


def masked_record(record: RunRecord, secrets: SecretsStore) -> RunRecord:
    """``record`` as it may leave the process: every secret value hidden (itself when none shows)."""
    data = record.to_dict(copy=False)
    masked = secrets.mask_record(data)
    return record if masked is data else RunRecord.from_dict(masked, copy=False)


def save_record(record: RunRecord, target: str, secrets: Mapping | None = None) -> str:
    """Write the record as YAML to a file, or to ``<dir>/<uid>.yaml`` for a directory (local or ``s3://``)."""
    from .datastore import get_item

    if target.endswith("/") or os.path.isdir(target):
        target = target.rstrip("/") + f"/{record.uid}.yaml" if "://" in target else os.path.join(
            target, f"{record.uid}.yaml")
    try:
        get_item(target, secrets).put(record.to_yaml())
    except OSError as exc:  # the run is already recorded in the store: a failure, not a usage error
        raise StoreError(f"cannot save the run record to {target}: {exc.strerror or exc}") from None
    return target


#: what ``run_start(kfp=True)`` writes the KFP files with: a layer above this one, so named here, loaded on use
KFP_OUTPUTS = "mlrun.kfp.outputs:KfpOutputs"


def run_start(spec=None, handler=None, command: str = "", rundb: str = "", hyperparams: Mapping | None = None,
              param_file: str | None = None, kfp: bool | OutputWriter = False, mode: str = "", *, name: str = "",
              project: str = "", params: Mapping | None = None, inputs: Mapping[str, str] | None = None,
              outputs: Mapping[str, str] | None = None, secrets=None, args: Sequence[str] = (),
              artifact_path: str = "", labels: Mapping | None = None, uid: str = "", selector: str | None = None,
              save_to: str = "", stream: bool = True, returns: Sequence[str] = (), runtime=None):
    """Run a Python function in this process, or a file or function URL as ``run_function`` does; a ``RunObject``.

    ``spec``: a ``RunTemplate`` (``new_task``), a record mapping (the seed's ``{'spec': {...}}``) or a ``RunRecord``.
    ``handler``: a Python callable, ``fn(context, p1=1, ...)`` or ``fn(struct)`` (``mlrun.runtimes.inproc``), or
    the name of a function in ``command``'s file.  ``command``: a Python file, ``file.py:handler`` or an
    ``http(s)://`` function URL.  ``hyperparams`` / ``param_file`` / ``selector`` make it a sweep, ``kfp=True``
    writes what Kubeflow Pipelines reads (``$MLRUN_KFP_DIR``, ...), ``returns`` names what the handler returns
    (``loader.record_result``), ``runtime`` is the 2019 runtime spec (``{'kind': 'local', 'command': FILE}``, its
    text, or a file or URL), ``mode='noctx'`` runs a file that never calls
    ``get_or_create_ctx`` with its parameters as ``--KEY VALUE`` arguments; the keywords add to the spec.
    A failing run does not raise: its state is ``error``.  No handler and no command, a missing file or
    handler raise ``InvalidInputError`` before anything is recorded.
    """
    from .runobject import RunObject

    record, secret_pairs, spec_handler = _run_spec(spec)
    if runtime is not None:
        record.spec.runtime = {**record.spec.runtime, **_runtime_spec(runtime)}
    handler = handler or spec_handler or record.spec.runtime.get("handler")
    args = args or record.spec.runtime.get("args") or ()
    # the spec's own command (a template's, a record's) when the call names none; an in-process run's names a function
    spec_command = "" if callable(handler) or record.spec.runtime.get("kind") == "handler" else \
        record.spec.runtime.get("command") or ""
    target, handler_name = _run_target(handler, command or spec_command)
    _merge(record, name=name, project=project, params=params, inputs=inputs, outputs=outputs, labels=labels,
           out_path=artifact_path, uid=uid)
    _merge_sweep(record, hyperparams, param_file, selector)
    store = as_secrets([*secret_pairs, *_secret_pairs(secrets)])
    from .runtimes import get_runtime

    runtime = get_runtime(target)  # bad targets fail here, before the record is completed
    record.spec.runtime = {"kind": runtime.kind, "command": runtime.command}
    record.spec.runtime.update({k: v for k, v in (("handler", handler_name), ("mode", mode),
                                                  ("args", [str(a) for a in args]),
                                                  ("returns", [str(r) for r in returns])) if v})
    writer = load(KFP_OUTPUTS, "run_start(kfp=True)", "kfp")() if kfp is True else kfp or None
    return RunObject(run_function(target, secrets=store, save_to=save_to, kfp=writer, rundb=rundb or None,
                                  stream=stream, record=record))


#: the 2019 runtime kinds that run on this machine
LOCAL_KINDS = ("", "local", "handler", "remote")


def _runtime_spec(runtime) -> dict:
    """``run_start(runtime=...)`` of 2019 code: a runtime dict, its literal text, an object with ``to_dict``, or
    a file or URL; a kind that needs a cluster (``mpijob``, ...) is refused in one line."""
    from .errors import InvalidInputError

    if isinstance(runtime, str):
        if runtime.lstrip().startswith("{"):
            import ast

            try:
                runtime = ast.literal_eval(runtime)
            except (ValueError, SyntaxError) as exc:
                raise InvalidInputError(f"runtime {runtime!r} is not a runtime spec: {exc}") from None
        else:
            runtime = {"command": runtime}
    elif hasattr(runtime, "to_dict"):
        runtime = runtime.to_dict()
    if not isinstance(runtime, Mapping):
        raise InvalidInputError(f"runtime must be a mapping (kind, command, ...), got {type(runtime).__name__}")
    kind = str(runtime.get("kind") or "")
    if kind not in LOCAL_KINDS:
        raise InvalidInputError(f"runtime kind {kind!r} needs a cluster, which is not available here (kinds that run "
                                f"here: {', '.join(k for k in LOCAL_KINDS if k)})")
    return {k: runtime[k] for k in ("command", "handler", "args") if runtime.get(k)}


def _run_spec(spec) -> tuple[RunRecord, list, Any]:
    """``run_start``'s spec as a new record in state ``created``, its secret sources as ``(kind, source)`` pairs
    (inline values included: a record never holds them, so its sources are taken off it) and its handler."""
    from .errors import InvalidInputError

    handler, pairs = None, []
    if spec is None:
        data = {}
    elif hasattr(spec, "secret_pairs") and hasattr(spec, "to_dict"):  # a RunTemplate
        data, pairs, handler = spec.to_dict(), spec.secret_pairs(), spec.spec.handler
    elif isinstance(spec, RunRecord):
        data = spec.to_dict()
    elif isinstance(spec, Mapping):
        data = {k: dict(v) if isinstance(v, Mapping) else v for k, v in spec.items()}
    else:
        raise InvalidInputError(f"spec must be a RunTemplate, a mapping or a RunRecord, got {type(spec).__name__}")
    sections = {k: dict(data.get(k) or {}) for k in ("metadata", "spec")}
    for key in ("param_file", "selector", "strategy"):  # the 2019 spec's places of sweep options
        if sections["spec"].get(key):
            sections["spec"]["hyper_options"] = {**dict(sections["spec"].get("hyper_options") or {}),
                                                 key: sections["spec"].pop(key)}
    if not pairs:
        # an inline source of a record names keys only: its values are gone
        pairs = [(s.get("kind"), s.get("source")) for s in sections["spec"].get("secret_sources") or []
                 if isinstance(s, Mapping) and (s.get("kind") != "inline" or isinstance(s.get("source"), Mapping))]
    sections["spec"]["secret_sources"] = []
    if "status" in data or isinstance(spec, RunRecord):  # a run that ran: this is a new one
        sections["metadata"].pop("uid", None)
        sections["metadata"]["iteration"] = 0
    record = RunRecord.from_dict(sections)
    if not record.metadata.uid:
        import uuid

        record.metadata.uid = uuid.uuid4().hex
    record.status.start_time = record.status.last_update = now_iso()
    from .config import owner

    record.metadata.labels.setdefault("owner", owner())
    return record, pairs, handler


def _run_target(handler, command: str) -> tuple[Any, str]:
    """What runs (a callable, a file or a URL) and the handler name recorded for a file."""
    from .errors import InvalidInputError

    if callable(handler):
        if command:
            raise InvalidInputError("give a Python function as handler or a command to run, not both")
        return handler, ""
    if handler is not None and not isinstance(handler, str):
        raise InvalidInputError(f"handler must be a function or a name, got {type(handler).__name__}")
    if not command:
        raise InvalidInputError("nothing to run: give a handler (a Python function) or a command (a file or URL)")
    path, sep, attr = command.rpartition(":")
    if "://" not in command and sep and attr.isidentifier():  # file.py:handler
        if handler and handler != attr:
            raise InvalidInputError(f"{command!r} names handler {attr!r}, handler= says {handler!r}")
        return path, attr
    return command, handler or ""


def _merge(record: RunRecord, name: str, project: str, params: Mapping | None, inputs: Mapping | None,
           outputs: Mapping | None, labels: Mapping | None, out_path: str, uid: str) -> None:
    """``run_start``'s keywords over its spec: they win."""
    meta, spec = record.metadata, record.spec
    meta.name, meta.project = name or meta.name, project or meta.project
    if uid:
        meta.uid = check_uid(uid)
    meta.labels.update({str(k): str(v) for k, v in (labels or {}).items()})
    spec.parameters.update(params or {})
    for name, given in (("input_objects", inputs), ("output_artifacts", outputs)):
        if given:
            kept = [i for i in getattr(spec, name) if i["key"] not in given]
            setattr(spec, name, kept + [{"key": str(k), "path": str(v)} for k, v in given.items()])
    spec.default_output_path = out_path or spec.default_output_path


def _merge_sweep(record: RunRecord, hyperparams: Mapping | None, param_file: str | None,
                 selector: str | None) -> None:
    spec = record.spec
    if hyperparams:
        spec.hyperparams = {**spec.hyperparams, **hyperparams}
    for key, value in (("param_file", param_file), ("selector", selector)):
        if value:
            spec.hyper_options = {**spec.hyper_options, key: value}


def _secret_pairs(secrets) -> list:
    """``run_start(secrets=...)``: a mapping of inline values, or ``[(kind, source)]`` pairs."""
    if not secrets:
        return []
    if isinstance(secrets, Mapping):
        return [("inline", secrets)]
    return [tuple(s) for s in secrets]


def run_local(task=None, command: str = "", name: str = "", args: Sequence[str] | None = None, workdir: str = "",
              project: str = "", tag: str = "", secrets=None, handler=None, params: Mapping | None = None,
              inputs: Mapping[str, str] | None = None, artifact_path: str = "", mode: str = "", **fields):
    """MLRun 1.x's name and argument order for ``run_start``: ``run_local(task, command, name, args, ...)``.

    ``workdir`` is where relative input paths are read from (default: the working directory); ``tag`` labels
    the run, as ``kind: local`` does; ``project`` defaults to ``default``.  ``command`` may also be a function
    object, a notebook or a function's YAML: then it is that function's ``fn.run(task, local=True, ...)``.
    Other keywords (``rundb``, ``hyperparams``, ``kfp``, ...) go to ``run_start`` as they are.
    """
    if not isinstance(command, str) or command.endswith((".ipynb", ".yaml", ".yml")):
        fn = load(FUNCTION_OF, "run_local(command=a function, a notebook or a function YAML)")(command, name, tag)
        return fn.run(task, handler=handler, name=name, project=project, params=params, inputs=inputs,
                      artifact_path=artifact_path, workdir=workdir, local=True, secrets=secrets, **fields)
    task, inputs = under_workdir(workdir, task, inputs)
    # MLRun 1.x labels a run with its kind and puts it in project "default" when nothing names one
    labels = {"kind": "local", **dict(fields.pop("labels", None) or {}), **({"tag": tag} if tag else {})}
    task_project = getattr(getattr(task, "metadata", None), "project", "")
    return run_start(task, handler=handler, command=command, mode=mode, name=name, args=args or (),
                     project=project or task_project or "default", secrets=secrets, params=params, inputs=inputs,
                     artifact_path=artifact_path, labels=labels, **fields)


#: what ``run_local`` makes a function object of (a layer above this one, so named here, loaded on use)
FUNCTION_OF = "mlrun.functions.create:function_of"


def under_workdir(workdir: str, task, inputs: Mapping[str, str] | None):
    """A task (a copy) and inputs whose relative input paths are read under ``workdir`` (MLRun 1.x's ``workdir``)."""
    def under(path: str) -> str:
        return path if not path or "://" in path or os.path.isabs(path) else os.path.join(workdir, path)

    if not workdir:
        return task, inputs
    task_inputs = getattr(getattr(task, "spec", None), "input_objects", None)
    if task_inputs:
        task = task.copy()
        task.spec.input_objects = [{**i, "path": under(i["path"])} for i in task_inputs]
    return task, {k: under(v) for k, v in inputs.items()} if inputs else inputs
