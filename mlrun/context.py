"""The run context: the one object run code talks to, wherever it runs.

``get_or_create_ctx`` builds it from an incoming event, an explicit spec or the spec a launcher
put in ``MLRUN_EXEC_CONFIG``; with none of these it starts a fresh local run.  Everything the
code reads (parameters, secrets, inputs) and writes (outputs, metrics, artifacts, labels) goes
through it and ends up in the run record.

Secret values never leave with it: every copy of the record that leaves the context (``commit``,
``to_dict``, ``to_yaml``, ``to_json``, ``record``) goes through one masking pass over all its keys and
values (``SecretsStore.mask_record``), and a context that holds secrets masks the process's own
output from then on (``mlrun.secrets.register``), except a context built from a request (``event``): a
request's secrets hide in its own record, log and answer only (the served adapters mask its captured
output), never in the output of other requests.
"""
from __future__ import annotations

import json
import os
import sys
from _thread import allocate_lock  # threading itself is not needed to import this module
from collections.abc import Mapping
from operator import attrgetter

from . import lifecycle
from .config import EXEC_CONFIG_ENV, EXEC_CONFIG_FD_ENV, EXEC_SECRETS_ENV, owner
from .errors import InvalidInputError, NotFoundError, StoreError, error_message
from .model import RUN_STATES, RunRecord, now_iso, parse_struct
from .secrets import SecretsStore, secret_values

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from typing import Any

    from .artifacts import Artifact
    from .policy import AccessPolicy

def _recorded(field: str, doc: str = "") -> property:
    """A read-only attribute of the context showing a field of its run record (``"metadata.name"``)."""
    return property(attrgetter("_record." + field), doc=doc)


class RunContext:
    """Parameters, secrets and inputs in; outputs, metrics, artifacts and state out.

    Use ``get_or_create_ctx`` rather than building one directly.  As a context manager the run
    ends ``completed``, or in state ``error`` with the exception's message.
    """

    #: what a run that came over the network may read and write (``mlrun.policy``); ``None``: anything
    _policy: AccessPolicy | None = None
    #: the uid came with a request: before the first commit, a stored run of that uid (not this run's) is
    #: never replaced, the run takes a fresh uid instead
    _uid_unclaimed = False
    #: the run this one is an iteration of (``get_child_context``)
    _parent: RunContext | None = None

    def __init__(self, record: RunRecord, secrets: SecretsStore | None = None, rundb=None, register: bool = True):
        self._record = record
        self._secrets = secrets or SecretsStore()
        self._rundb = rundb
        self._metrics = record.status.metrics  # log_metric appends here directly: it must stay cheap
        self._read_inputs: set[str] = set()
        self._commit_lock = allocate_lock()  # a heartbeat's commit never lands after the final one
        #: artifact writes that failed (the code may have caught the error): they fail the run at its end
        self._failed_writes: list[str] = []
        self._children: list[RunContext] = []
        #: the run's code asked for this context (``get_or_create_ctx``), beyond the launcher that made it
        self.claimed = False
        self._record.spec.secret_sources = self._secrets.sources
        if register:  # the process's stdout, stderr and logging hide them from now on
            self._secrets.register()
        if not record.metadata.uid:
            import uuid

            record.metadata.uid = uuid.uuid4().hex
        record.status.start_time = record.status.last_update = record.status.start_time or now_iso()
        #: this context started the run (it came ``created``); else whoever handed it over stored it running
        self.started = record.status.state == "created"
        if self.started:
            record.start(record.status.start_time)

    # -- identity: read-only views of the record ---------------------------------------------
    name = _recorded("metadata.name")
    uid = _recorded("metadata.uid")
    project = _recorded("metadata.project")
    tag = _recorded("metadata.tag")
    iteration = _recorded("metadata.iteration", "The iteration of a hyper-parameter run; 0 for the run itself.")
    labels = _recorded("metadata.labels", "The run's labels (a dict: changes are recorded).")
    annotations = _recorded("metadata.annotations", "The run's annotations (a dict: changes are recorded).")
    parameters = _recorded("spec.parameters", "The run's parameters (a dict), defaults used so far included.")
    state = _recorded("status.state", "created, running, completed or error.")
    outputs = _recorded("status.outputs", "The results logged so far (a dict).")
    results = _recorded("status.outputs", "MLRun 1.x's name of ``outputs``.")
    runtime = _recorded("spec.runtime", "How the run was launched (``spec.runtime``: kind, command, handler, args).")
    error = _recorded("status.error", "Why the run failed (``status.error``); ``\"\"`` while it has not.")

    def claim(self, name: str = "") -> RunContext:
        """This context, as the run's code asks for it (``get_or_create_ctx``): ``claimed``, and named ``name``
        when it has no name yet."""
        if name and not self.name:
            self._record.metadata.name = name
        self.claimed = True
        return self

    @property
    def out_path(self) -> str:
        """Where artifacts go by default: the run's output path, else the working directory (made absolute).

        A run that came over the network writes under the function's output path: its own may
        only name a sub-path of it (``AccessPolicy.output_path``).
        """
        from . import artifacts  # typed artifacts load with the first artifact, not with mlrun

        return artifacts.output_path(self._record, self._policy)

    @property
    def inputs(self) -> dict:
        """Input keys and the URLs they come from."""
        return {i["key"]: i["path"] for i in self._record.spec.input_objects}

    @property
    def log_level(self) -> str:
        """The spec's ``log_level`` (``debug``, ``info``, ``warning``, ``error`` or ``critical``; default ``info``)."""
        return self._record.spec.log_level

    @property
    def logger(self):
        """A ``logging.Logger`` for the run's own messages, at the spec's ``log_level``, writing to stderr (so a
        launched or served run's log keeps them, masked like the rest)."""
        return _run_logger(self._record.spec.log_level)

    @property
    def secret_keys(self) -> list:
        """Names of the secrets available to the run (never their values)."""
        return self._secrets.keys()

    def set_label(self, key: str, value: str, replace: bool = True) -> None:
        if replace or key not in self.labels:
            self.labels[key] = str(value)

    def set_annotation(self, key: str, value: str, replace: bool = True) -> None:
        if replace or key not in self.annotations:
            self.annotations[key] = str(value)

    # -- reading ----------------------------------------------------------------------------
    def get_param(self, key: str, default: Any = None) -> Any:
        """The parameter's value; a default used is recorded, so the record shows what ran."""
        parameters = self._record.spec.parameters
        if key not in parameters:
            parameters[key] = _plain(default, key, "parameter")
            return default
        return parameters[key]

    def get_secret(self, key: str) -> str | None:
        """A secret's value (``None`` when the run has no such secret); never recorded or logged."""
        return self._secrets.get(key)

    def get_object(self, key: str):
        """The input named ``key`` as a data item (``.get()``, ``.local()``, ``.open()``, ...).

        Inputs come from ``-i key=url``; a key the run was not given, or given with an empty path (as 2019 specs
        wrote local files: ``{'key': 'infile.txt', 'path': ''}``), is read as a local path.
        """
        from .datastore import get_item

        url = self.inputs.get(key)
        if not url:
            url = key
            entries = self._record.spec.input_objects
            entry = next((e for e in entries if e["key"] == key), None)
            if entry is None:
                entries.append({"key": key, "path": key})
            else:
                entry["path"] = key
        item = get_item(url, secrets=self._secrets.items(), key=key, data_stores=self._record.spec.data_stores,
                        policy=self._policy, rundb=self._rundb)
        item.on_read = self._input_read
        return item

    input_artifact = get_object
    get_input = get_object

    def _input_read(self, item, content=None, stat=None) -> None:
        """Lineage: url, size, etag (else the sha256 of what was read, when it passed through whole) and time.

        ``stat`` is the version read, when the read told it; else it is asked for now.
        """
        if item.key in self._read_inputs:
            return
        self._read_inputs.add(item.key)
        entry = {"key": item.key, "url": item.url, "read_time": now_iso()}
        if item.meta is not None:  # a store:// artifact: the exact version read, as its run recorded it
            meta = item.meta
            entry.update(url=item.artifact_url, target_path=item.url, uid=meta.get("uid", ""),
                         iteration=meta.get("iteration", 0), sha256=meta.get("sha256", ""))
            content = None  # hashed when it was logged: not again
        try:
            stat = stat or item.stat()
            entry.update(size=stat.size, etag=stat.etag, modified=stat.modified)
        except Exception:  # lineage is best effort: the read itself already succeeded
            pass
        if not entry.get("etag") and content is not None:
            import hashlib

            is_bytes = isinstance(content, (bytes, bytearray))
            from .artifacts import file_sha256

            entry["sha256"] = hashlib.sha256(content).hexdigest() if is_bytes else file_sha256(content)[0]
        self._record.status.input_objects.append(entry)

    # -- writing ----------------------------------------------------------------------------
    def log_output(self, key: str, value: Any) -> None:
        """Record a result value (a number, string, bool, list or mapping)."""
        self._record.status.outputs[str(key)] = _plain(value, key)

    log_result = log_output

    def log_outputs(self, outputs: Mapping[str, Any]) -> None:
        for key, value in outputs.items():
            self.log_output(key, value)

    log_results = log_outputs

    def log_metric(self, key: str, value: float, step: int | str | None = None) -> None:
        """Append a point to a metric's history; ``step`` defaults to the point's 1-based position."""
        metric = self._metrics.get(key)
        if metric is None:
            metric = self._metrics[key] = {"labels": {}, "xvalues": [], "yvalues": []}
        xvalues = metric["xvalues"]
        xvalues.append(str(len(xvalues) + 1 if step is None else step))
        metric["yvalues"].append(value if type(value) in (int, float) else _number(value, key))

    def log_artifact(self, item: str | Artifact, body: bytes | str | None = None,
                     local_path: str | None = None, target_path: str | None = None, viewer: str | None = None,
                     upload: bool = True, labels: Mapping | None = None, description: str = "",
                     format: str | None = None, tag: str = "") -> dict:
        """Store a file, a body or a typed artifact (``TableArtifact``, ``ChartArtifact``, ``PlotArtifact``) as an
        artifact of the run and record where it went, with its kind and ``viewer`` (``table``, ``chart``,
        ``web-app``, ``image``, ``text``: how the KFP UI and the web UI show it).

        ``item`` is a key or an ``Artifact`` (arguments given here override its own).  With neither ``body`` nor
        ``local_path`` the artifact is the local file named ``key``.  It goes to ``target_path``, else the ``-o``
        target given for ``key``, else ``<out_path>/<key>`` (which must stay inside the output path, symlinks
        followed).  A local target is recorded absolute.  ``upload=False`` copies nothing: the record points at
        ``target_path``, else ``local_path``, else the key, where it is (a local file still hashed).
        The entry's ``uri`` names it from other runs: ``store://artifacts/<project>/<key>:<tag or latest>@<uid>``.
        """
        from .artifacts import log_artifact

        try:
            return log_artifact(self._record, item, body=body, local_path=local_path, target_path=target_path,
                                description=description, labels=labels, format=format, secrets=self._secrets,
                                policy=self._policy, viewer=viewer, upload=upload, tag=tag)
        except StoreError as exc:
            if not isinstance(exc, NotFoundError):  # the write failed (not the call): the run did not do its job
                self._failed_writes.append(str(exc))
            raise

    def log_dataset(self, key: str, df, tag: str = "", format: str = "", preview: int | None = None,
                    stats: bool = True, labels: Mapping | None = None, description: str = "",
                    artifact_path: str | None = None, upload: bool = True, extra_data: Mapping | None = None,
                    **kwargs) -> dict:
        """Store a DataFrame (``df``, or what ``pandas.DataFrame(...)`` accepts) as the dataset ``key``: parquet
        (the default when pyarrow is installed) or csv (``format``), under ``artifact_path`` (else the output
        path), named ``<key>.<format>``.  The entry records its schema, its first ``preview`` rows (20) and,
        with ``stats``, per-column statistics; its ``uri`` is ``store://datasets/<project>/<key>:<tag>@<uid>``.
        ``extra_data`` maps names to URLs (or logged entries) recorded with it."""
        from .artifacts import DatasetArtifact
        from .artifacts.model import extra_urls

        if not upload:
            raise InvalidInputError(f"dataset {key!r}: upload=False records a file that exists: log it with "
                                    "log_artifact(key, target_path=..., upload=False)")
        artifact = DatasetArtifact(key, df, format=format, preview=preview, stats=stats, labels=labels,
                                   description=description, **kwargs)
        if artifact_path:
            from .datastore import join_url

            artifact.target_path = join_url(artifact_path, artifact.file_name())
        entry = self.log_artifact(artifact, tag=tag)
        if extra_data:
            entry["extra_data"] = extra_urls(extra_data, "", _refuse_bytes, key)
        return entry

    def log_model(self, key: str, body: bytes | None = None, model_file: str | None = None,
                  model_dir: str | None = None, framework: str = "", algorithm: str = "",
                  metrics: Mapping | None = None, parameters: Mapping | None = None, inputs: list | None = None,
                  outputs: list | None = None, feature_vector: str | None = None, feature_weights: list | None = None,
                  training_set=None, label_column: str | list | None = None, extra_data: Mapping | None = None,
                  labels: Mapping | None = None, tag: str = "", artifact_path: str | None = None, **kwargs) -> dict:
        """Store a trained model as the model ``key``: ``body`` (its bytes), the local file ``model_file``, or the
        files of the local folder ``model_dir``, in the folder ``<output path>/<key>/`` with ``model_spec.yaml``
        (MLRun 1.x's layout) and ``extra_data`` (bytes become files there; URLs and logged entries are referenced).
        The entry records framework, algorithm, metrics, parameters, inputs/outputs (from ``training_set`` and
        ``label_column`` when not given); its ``uri`` is ``store://models/<project>/<key>:<tag>@<uid>``, which
        ``mlrun.artifacts.get_model`` reads back."""
        from .artifacts import ModelArtifact
        from .artifacts.model import write_model_files

        model = ModelArtifact(key, body=body, model_file=model_file, model_dir=model_dir, framework=framework,
                              algorithm=algorithm, metrics=metrics, parameters=parameters, inputs=inputs,
                              outputs=outputs, feature_vector=feature_vector, feature_weights=feature_weights,
                              training_set=training_set, label_column=label_column, extra_data=extra_data,
                              labels=labels, **kwargs)
        if artifact_path:
            from .datastore import join_url

            model.target_path = join_url(artifact_path, model.file_name())
        entry = self.log_artifact(model, tag=tag)
        write_model_files(self._record, entry, model, self._write_file)
        model.entry = entry
        return entry

    def _write_file(self, url: str, data: bytes | str) -> None:
        """Store ``data`` (bytes, or a local file's path) at ``url``, as the run writes its artifacts."""
        from .datastore import get_item

        item = get_item(url, secrets=self._secrets.items(), data_stores=self._record.spec.data_stores,
                        policy=self._policy, action="write")
        if isinstance(data, bytes):
            item.put(data)
        else:
            item.upload(data)

    # -- lifecycle --------------------------------------------------------------------------
    def commit(self, message: str = "", completed: bool = False) -> None:
        """Save the record as it is now into the run store; ``completed=True`` ends the run first (``completed``,
        unless it failed: MLRun 1.x's ``commit(completed=True)``)."""
        with self._commit_lock:
            if message:
                self._record.status.commit_message = message
            if completed and self.state != "error":
                self.set_state("completed")
            self._table_children()
            self._record.touch()
            self._db_to_write().store_run_data(self.record_data(copy=False))

    def heartbeat(self) -> None:
        """Refresh the stored record's ``last_update`` while the run is running (``mlrun.rundb.liveness``)."""
        with self._commit_lock:
            if self.state == "running":
                self._record.touch()
                self._db_to_write().store_run_data(self.record_data(copy=True))

    def _db_to_write(self):
        """The run store, once this run's uid is its own: a served run that named the uid of a stored run (not
        one it made) takes a fresh uid rather than replace that run or add to its log."""
        db = self._db()
        if self._uid_unclaimed:
            from .errors import NotFoundError

            self._uid_unclaimed = False
            try:
                db.read_run_data(self.uid, self.iteration or 0)
            except NotFoundError:
                return db
            import uuid

            self._record.metadata.uid = uuid.uuid4().hex
        return db

    def _table_children(self) -> None:
        if self._children:
            from .model import iterations_table

            self._record.status.iterations = iterations_table([c._record for c in self._children])

    # -- iterations made by the code (MLRun 1.x) ---------------------------------------------
    def get_child_context(self, with_parent_params: bool = False, **params) -> RunContext:
        """A new iteration of this run, made and judged by the code itself (a sweep it drives): its own
        context with ``params`` (and this run's parameters with ``with_parent_params``), the next iteration
        number, this run's uid, inputs and secrets, artifacts under ``<out_path>/<iteration>``.  End it with
        ``child.commit(completed=True)``; ``child.mark_as_best()`` makes its results this run's.  The parent's
        ``status.iterations`` lists every child."""
        record = RunRecord.from_dict({"metadata": {k: v for k, v in self._record.metadata.to_dict().items()
                                                   if k != "iteration"},
                                      "spec": self._record.spec.to_dict()})
        record.metadata.iteration = len(self._children) + 1
        spec = record.spec
        spec.parameters = {**(dict(self._record.spec.parameters) if with_parent_params else {}), **params}
        spec.hyperparams, spec.hyper_options = {}, {}
        spec.default_output_path = os.path.join(self.out_path, str(record.metadata.iteration))
        record.status.start_time = ""
        child = RunContext(record, self._secrets, self._rundb)
        child._parent = self
        self._children.append(child)
        child.commit()
        return child

    def mark_as_best(self) -> None:
        """Make this child's results and artifacts its parent's, with ``best_iteration`` (``get_child_context``)."""
        parent = self._parent
        if parent is None:
            raise InvalidInputError("mark_as_best() is for a context made by get_child_context()")
        parent._record.status.outputs.update({"best_iteration": self.iteration, **self.outputs})
        parent._record.status.output_artifacts = list(self._record.status.output_artifacts)
        parent.commit()

    def set_state(self, state: str, error: str = "") -> None:
        """Change the run's state (``error`` with the reason ``error``); an impossible change is refused."""
        if state not in RUN_STATES:  # refused here, not at the next commit far from the cause
            raise InvalidInputError(f"run state must be one of {', '.join(RUN_STATES)}, got {state!r}")
        if state == "error":
            self._record.fail(error or self._record.status.error)
        else:
            self._record.set_state(state)

    def finish(self, error: BaseException | str | None = None, commit: bool = True) -> None:
        """End the run: ``completed``, or ``error`` with the message of ``error``.

        A ``SystemExit`` is a failure only with a non-zero code: ``sys.exit()`` inside a run is a clean end.
        """
        if isinstance(error, SystemExit):
            code = error.code
            error = None if code in (None, 0) else code if isinstance(code, str) else f"script exited with code {code}"
        if error is None and self._failed_writes and self.state != "error":
            error = "; ".join(self._failed_writes)  # the code went on after a write failed: the run did not succeed
        if error is None:
            if self.state != "error":  # the code failed its run itself (set_state, finish): keep its reason
                self.set_state("completed")
        else:
            self.set_state("error", error_message(error))
        self._table_children()
        if commit:
            from .rundb.spool import store_final

            with self._commit_lock:  # the end is retried, and kept on this machine when the store cannot take it
                self._record.touch()
                store_final(self._db(), self.record_data(copy=False))

    def __enter__(self) -> RunContext:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.finish(exc)

    def mask(self, text: str) -> str:
        """``text`` with every secret value of this run hidden."""
        return self._secrets.mask(text)

    def secret_values(self) -> list:
        """The values this run's masking hides (for a caller that masks while it serialises)."""
        return self._secrets.maskable()

    def append_log(self, data: bytes) -> None:
        """Append ``data`` to the run's log in the run store."""
        self._db_to_write().store_log(self.uid, data, append=True)

    def _db(self):
        from .rundb import RunDB, get_run_db

        if not isinstance(self._rundb, RunDB):
            self._rundb = get_run_db(self._rundb)
        return self._rundb

    # -- the record -------------------------------------------------------------------------
    @property
    def record(self) -> RunRecord:
        """A copy of the run record as it is now."""
        return RunRecord.from_dict(self.to_dict())

    def to_dict(self) -> dict:
        return self.record_data(copy=True)

    def record_data(self, copy: bool, masked: bool = True) -> dict:
        """The record as it may leave: secret values hidden in every key and value (one pass, here only).

        With ``copy=False`` it may share objects with the live record: only for serialising at once.
        ``masked=False`` only for a caller that masks while it serialises (``events.render_run``).
        """
        data = self._record.to_dict(copy)
        if not data["metadata"]["name"]:  # named by the code later, if it calls get_or_create_ctx(name)
            data["metadata"] = dict(data["metadata"], name=self._record.shown_name())
        return self._secrets.mask_record(data) if masked else data

    def to_yaml(self) -> str:
        return self.record.to_yaml()

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def __repr__(self) -> str:
        return f"<RunContext {self.name or '?'} uid={self.uid} state={self.state}>"


MLClientCtx = RunContext  # the name the original design used


def get_or_create_ctx(name: str, event=None, spec: Mapping | str | bytes | RunRecord | None = None,
                      with_env: bool = True, rundb=None, project: str = "", labels: Mapping | None = None,
                      secrets: Mapping | None = None, policy: AccessPolicy | None = None) -> RunContext:
    """The run context for this code.

    Sources, first found wins: ``event`` (an HTTP/nuclio event carrying a run spec), ``spec``
    (a mapping, JSON/YAML text or a ``RunRecord``), ``$MLRUN_EXEC_CONFIG`` (when ``with_env``);
    else a new run with a fresh uid.  Without an event or spec, a second call in the same process
    returns the same context.  ``secrets`` adds inline secrets (recorded by key name only).
    A context built from an event reads and writes only what ``policy`` allows (default: the served
    function's, ``mlrun.policy.serving_policy()``), and opens remote stores only with the secrets
    the event carried; other contexts have no policy unless given one.
    A bad ``spec`` raises ``InvalidSpecError``; a bad ``$MLRUN_EXEC_CONFIG`` ends the process with one
    line on stderr and exit code 2, as a bad command line would.
    """
    if getattr(event, "plain_run", False):  # a nuclio-form handler run as a plain run: its event carries no spec
        event = None
    current = lifecycle.current()
    if event is None and spec is None and current is not None:
        return current.claim(name)

    if spec is not None and event is None:  # inside an in-process run, a handler making its run's context
        run_db, run_secrets = lifecycle.run_defaults()
        rundb, secrets = rundb or run_db, {**run_secrets, **(secrets or {})} if run_secrets else secrets
    from_env = event is None and spec is None and with_env and bool(
        os.environ.get(EXEC_CONFIG_ENV) or os.environ.get(EXEC_CONFIG_FD_ENV))
    try:
        record, store = _load_run(name, event, spec, from_env, project, labels, secrets)
        named_uid = record.metadata.uid
    except InvalidInputError as exc:
        if not from_env:
            raise
        # the launcher's spec is input like a command line: one line and the usage exit code, no traceback
        print(f"mlrun: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    # a request's secrets are its own: they hide in its record, log and answer, not in everyone's output
    ctx = RunContext(record, store, rundb, register=event is None)
    if event is not None:
        _serve_request(ctx, secrets, named_uid)
    if event is not None or policy is not None:
        ctx._policy = _request_policy(policy, store, secrets)
    if event is None:
        # a spec'd context never displaces the process's own run, but is the in-process run's it is made in
        if spec is None or lifecycle.owned_run() is None or lifecycle.in_scope():
            lifecycle.set_current(ctx)
        if spec is None:
            lifecycle.finish_at_exit(ctx, signals=not from_env)  # a launcher's child: the launcher handles signals
    return ctx


def _serve_request(ctx: RunContext, code_secrets: Mapping | None, named_uid: str) -> None:
    """A context built from a request: its secrets scoped to it, its uid claimed at the first commit."""
    from .secrets import register, register_request, scope_request

    values = ctx._secrets.maskable()
    scope_request(values)  # the log records this request makes hide them
    register_request(values)  # and the console: what a handler under nuclio's own wrapper prints goes there
    if code_secrets:  # the code's own secrets are the function's: hidden process-wide
        register(secret_values(code_secrets))
    ctx._uid_unclaimed = bool(named_uid)


def _refuse_bytes(url: str, data) -> None:
    raise InvalidInputError("a dataset's extra_data names URLs or logged artifacts, not bytes")


def _request_policy(policy: AccessPolicy | None, store: SecretsStore, code_secrets: Mapping | None):
    """The context's policy, bound to the secrets the request carried (not those the code passed)."""
    from .policy import serving_policy

    code_secrets = dict(code_secrets or {})
    carried = {k: v for k, v in store.items().items() if code_secrets.get(k) != v}
    return (policy or serving_policy()).for_request(carried)


def _load_run(name: str, event, spec, from_env: bool, project: str, labels: Mapping | None,
              secrets: Mapping | None) -> tuple[RunRecord, SecretsStore]:
    """The record and secrets of a new context, from the first source present."""
    inline = dict(secrets or {})
    if event is not None:
        from .protocol import spec_from_event  # protocol imports typing: too slow for ``import mlrun``

        spec, event_secrets = spec_from_event(event)
        inline.update(event_secrets)
    elif from_env:
        spec, handed = _launcher_spec()
        inline.update(handed)

    if spec is not None and not isinstance(spec, (Mapping, str, bytes, RunRecord)) and hasattr(spec, "to_dict"):
        spec = spec.to_dict()  # a task template (``new_task``), as MLRun 1.x code passes it
    if spec is None:
        record = RunRecord()
    elif isinstance(spec, RunRecord):
        record = spec.copy()
    elif isinstance(spec, (str, bytes)):
        record = RunRecord.from_text(spec, EXEC_CONFIG_ENV if from_env else "run spec")
    else:  # a mapping passed as the event is the caller's own, so it is copied; a body decoded for this event is not
        record = RunRecord.from_dict(dict(spec), copy=event is None or isinstance(event, Mapping))

    meta = record.metadata
    meta.name = meta.name or name
    meta.project = meta.project or project
    for key, value in (labels or {}).items():
        meta.labels.setdefault(key, str(value))
    if event is None:  # a request's run is the caller's: its own owner label, or none (never the server's user)
        meta.labels.setdefault("owner", owner())

    # an event's caller resolved its own sources (its files, its environment) and sent the values; a recorded
    # inline source names keys only (their values come with ``secrets``), a written one holds its values
    recorded_sources = [] if event is not None else [
        s for s in record.spec.secret_sources if s.get("kind") != "inline" or not isinstance(s.get("source"), list)]
    store = SecretsStore.from_sources(recorded_sources)
    if inline:
        store.add_source("inline", inline)
    return record, store


def _launcher_spec() -> tuple[str | bytes, dict]:
    """The spec text and inline secrets a launcher handed over: through ``$MLRUN_EXEC_CONFIG_FD`` when set
    (read whole, then the descriptor is closed and the variable removed: processes the run starts see
    neither), else ``$MLRUN_EXEC_CONFIG`` and ``$MLRUN_EXEC_SECRETS``."""
    fd = os.environ.pop(EXEC_CONFIG_FD_ENV, "")
    if not fd:
        return os.environ[EXEC_CONFIG_ENV], parse_struct(os.environ.get(EXEC_SECRETS_ENV) or "{}", EXEC_SECRETS_ENV)
    chunks = []
    try:
        with open(int(fd), "rb", closefd=True) as pipe:
            while chunk := pipe.read(1 << 20):
                chunks.append(chunk)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read the run spec from {EXEC_CONFIG_FD_ENV}={fd}: {exc}") from None
    # the launcher writes the secrets as one JSON line, then the spec
    secrets, _, spec = b"".join(chunks).partition(b"\n")
    return spec, parse_struct(secrets or b"{}", EXEC_SECRETS_ENV)


def _plain(value: Any, key: str, what: str = "output") -> Any:
    """Make ``value`` YAML/JSON-safe (numpy scalars and arrays included) or refuse it by name."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v, key, what) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v, key, what) for v in value]
    for method in ("item", "tolist"):  # numpy scalars and arrays
        if hasattr(value, method):
            try:
                return _plain(getattr(value, method)(), key, what)
            except (TypeError, ValueError):
                pass
    raise InvalidInputError(f"{what} {key!r}: cannot record a value of type {type(value).__name__}")


def _number(value: Any, key: str) -> float:
    try:
        plain = value.item() if hasattr(value, "item") else value
        if isinstance(plain, bool) or not isinstance(plain, (int, float)):
            raise TypeError
        return plain
    except (TypeError, ValueError):
        raise InvalidInputError(f"metric {key!r}: value must be a number, got {type(value).__name__}") from None


_logger_lock = allocate_lock()


def _run_logger(level: str):
    """The logger of runs at ``level``: ``mlrun.run.<level>``, one per level (a served run's level is its own even
    while others run), writing through ``mlrun.run``'s handler to whatever ``sys.stderr`` is when a line is logged."""
    import logging

    parent = logging.getLogger("mlrun.run")
    with _logger_lock:  # served runs ask from many threads: one handler, or every line would show twice
        if not parent.handlers:
            class StderrHandler(logging.StreamHandler):
                def emit(self, record):  # sys.stderr of now: the masking, per-request capturing stream once installed
                    self.stream = sys.stderr
                    super().emit(record)

            handler = StderrHandler()
            handler.setFormatter(logging.Formatter("[mlrun] %(levelname)s %(message)s"))
            parent.addHandler(handler)
            parent.setLevel(logging.DEBUG)
            parent.propagate = False
    logger = logging.getLogger(f"mlrun.run.{level}")
    logger.setLevel(level.upper())
    return logger
