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
            handler: str = "", args: Sequence[str] = (), kind: str = "") -> RunRecord:
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

    ``target``: a Python file (run in a local child process) or a function's ``http(s)://`` URL.
    ``secrets``: a mapping of inline values, or ``[("file", "secrets.txt"), ("env", "A,B")]``.
    ``hyperparams`` (``{name: [values]}``) and ``hyper_options`` (strategy, selector, parallel, ...)
    make it a hyper-parameter run: the returned record is the parent (see ``mlrun.hyper``).
    ``record``: run this record (in state ``created``) instead of one built from the fields.
    A failing run does not raise: the returned record is in state ``error`` with the reason.
    Bad input (missing file, unknown handler, unreadable secrets) raises ``InvalidInputError``
    before anything is recorded.
    """

    target: str
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
            project=self.project, labels=self.labels, uid=self.uid, workflow=self.workflow, command=self.target,
            handler=self.handler, args=self.args, kind=runtime.kind)
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
    (``save_record``).
    """
    request = RunRequest(target, params=params, inputs=inputs, outputs=outputs, secrets=secrets, **fields)
    final = run_with_kfp(request, kfp) if kfp is not None else request.run()
    if save_to:
        save_record(final, save_to, request.secret_store().items())
    return final


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
