"""Running code from Python the way the CLI does: ``run_function(file_or_url, params=..., ...)``."""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Protocol

from .config import default_dbpath
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


def run_function(target: str, params: Mapping | None = None, inputs: Mapping[str, str] | None = None,
                 outputs: Mapping[str, str] | None = None, secrets=None, name: str = "", handler: str = "",
                 args: Sequence[str] = (), out_path: str = "", project: str = "",
                 labels: Mapping[str, str] | None = None, uid: str = "", workflow: str = "", save_to: str = "",
                 rundb: str | None = None, stream: bool = True, record: RunRecord | None = None,
                 kfp: OutputWriter | None = None, hyperparams: Mapping[str, list] | None = None,
                 hyper_options: Mapping | None = None) -> RunRecord:
    """Run a file locally (child process) or a function by URL, record it and return the final record.

    ``secrets``: a mapping of inline values, or ``[("file", "secrets.txt"), ("env", "A,B")]``.
    ``kfp``: also write what Kubeflow Pipelines reads from a step (``mlrun.kfp.KfpOutputs``); a
    folder it cannot write ends the run in state ``error`` (before the code runs when it can tell).
    ``hyperparams`` (``{name: [values]}``) and ``hyper_options`` (strategy, selector, parallel, ...)
    make it a hyper-parameter run: the returned record is the parent (see ``mlrun.hyper``).
    A failing run does not raise: the returned record is in state ``error`` with the reason.
    Bad input (missing file, unknown handler, unreadable secrets) raises ``InvalidInputError``
    before anything is recorded.
    """
    from .rundb import get_run_db
    from .runtimes import RunOutcome, get_runtime

    runtime = get_runtime(target)
    secrets_store = as_secrets(secrets)
    if record is None:
        record = new_run(name=name, params=params, inputs=inputs, outputs=outputs, out_path=out_path,
                         project=project, labels=labels, uid=uid, workflow=workflow,
                         command=target, handler=handler, args=args, kind=runtime.kind)
    record.spec.secret_sources = secrets_store.sources
    sweep = None
    if hyperparams or hyper_options:
        record.spec.hyperparams, record.spec.hyper_options = dict(hyperparams or {}), dict(hyper_options or {})
    if record.spec.hyperparams or record.spec.hyper_options:
        from .hyper import Sweep

        sweep = Sweep(record, secrets_store.items())  # bad sweep options fail here, before anything is stored
    runtime.validate(record)
    secrets_store.register()  # this process's own output (errors, progress) hides them too
    rundb = rundb or default_dbpath()
    db = get_run_db(rundb)
    db.store_run(record, secrets_store)
    kfp_problem = kfp.check() if kfp is not None else ""
    if kfp_problem:  # the pipeline could not read the results: fail before the code runs, not after
        outcome = RunOutcome(record.copy())
    elif sweep is not None:  # the record is the parent; each iteration is a run of its own
        outcome = sweep.run(runtime, record, secrets_store, rundb, stream=stream)
    else:
        outcome = runtime.run(record, secrets_store, rundb, stream=stream)
    # the one record that leaves from here on (store, --save-to, KFP files, the caller), secrets hidden
    final = masked_record(outcome.record, secrets_store)
    if kfp is not None:
        kfp_problem = kfp_problem or kfp.write(final, secrets_store.items())
        if kfp_problem and final.state != "error":
            final.fail(kfp_problem)
            final = masked_record(final, secrets_store)  # the problem may name a file
    if outcome.log:
        db.store_run_and_log(final, outcome.log)
    else:
        db.store_run(final)
    if save_to:
        save_record(final, save_to, secrets_store.items())
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
