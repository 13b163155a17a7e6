"""Hyper-parameter runs: a parent run, one child run per parameter set, and the best one picked.

The parent record's spec says everything: ``spec.hyperparams`` (``{name: [values]}``) and
``spec.hyper_options`` (strategy, selector, ...).  Children share the parent's uid, with
``metadata.iteration`` 1..N, and are full records in the run store.  The parent (iteration 0)
keeps the results table in ``status.iterations`` (the first row is the header) and as the
artifact ``iteration_results.csv``, and takes the best iteration's outputs plus ``best_iteration``.
Every record stored, parent and iterations, goes through the secrets' masking pass first.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping

from ..artifacts import log_artifact
from ..datastore import join_url
from ..errors import InvalidInputError, error_message
from ..model import RunRecord, RunStatus, is_scalar, iterations_table, now_iso
from ..runtimes import RunOutcome, Runtime
from ..secrets import SecretsStore
from .executors import ShippedScript, absolute_local, get_executor, require_dask
from .selection import Selector, StopCondition
from .sources import check_hyperparams, load_param_file
from .strategies import check_strategy, iterations

#: spec.hyper_options: name -> type
OPTIONS = {"strategy": str, "max_iterations": int, "param_file": str, "selector": str, "parallel": int,
           "dask": str, "stop_condition": str, "max_errors": int, "seed": int}
RESULTS_KEY = "iteration_results.csv"
#: seconds between saves of the running parent (its table so far): often enough to watch, cheap for big sweeps
PROGRESS_SAVE_INTERVAL = 1.0


def check_options(options: Mapping) -> dict:
    """A copy of the sweep options, refusing unknown names and wrong types by name."""
    if not isinstance(options, Mapping):
        raise InvalidInputError(f"hyper_options must be a mapping, got {type(options).__name__}")
    checked = {}
    for name, value in options.items():
        if name not in OPTIONS:
            raise InvalidInputError(f"unknown hyper option {name!r} (expected one of: {', '.join(OPTIONS)})")
        if value is None or value == "":
            continue
        if OPTIONS[name] is int:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0 and name != "seed":
                raise InvalidInputError(f"hyper option {name} must be a non-negative integer, got {value!r}")
        elif not isinstance(value, str):
            raise InvalidInputError(f"hyper option {name} must be a string, got {type(value).__name__}")
        checked[name] = value
    return checked


class Sweep:
    """A hyper-parameter run, checked up front: bad options raise ``InvalidInputError`` before anything runs.

    Building it completes the parent's spec: values from ``param_file`` join ``spec.hyperparams``
    (``-x`` values win), and the strategy and a random sweep's seed are recorded, so the record
    alone replays the sweep.
    """

    def __init__(self, parent: RunRecord, secrets: Mapping | None = None):
        spec = parent.spec
        options = check_options(spec.hyper_options)
        hyperparams = check_hyperparams(spec.hyperparams)
        strategy = "grid"
        if "param_file" in options:
            from_file, strategy = load_param_file(options["param_file"], secrets)
            hyperparams = {**from_file, **hyperparams}
        options["strategy"] = check_strategy(options.get("strategy", strategy))
        if options["strategy"] == "random" and "seed" not in options:
            import random

            options["seed"] = random.SystemRandom().randrange(2**32)
        self.points = iterations(hyperparams, options["strategy"], options.get("max_iterations", 0),
                                 options.get("seed"))
        self.selector = Selector(options["selector"]) if "selector" in options else None
        self.stop_condition = StopCondition(options["stop_condition"]) if "stop_condition" in options else None
        if "dask" in options:
            require_dask()
        self.names = list(hyperparams)
        self.options = options
        spec.hyperparams, spec.hyper_options = hyperparams, options

    def run(self, runtime: Runtime, parent: RunRecord, secrets: SecretsStore, rundb: str,
            stream: bool = True) -> RunOutcome:
        """Run every iteration through ``runtime`` and return the parent's final record and the iterations' logs.

        Failing iterations are recorded and the sweep goes on, unless ``max_errors`` of them failed
        or one met ``stop_condition``: then no new iteration starts and those in flight finish.
        """
        from ..rundb import get_run_db

        db = get_run_db(rundb)
        parent.start()
        db.store_run(parent, secrets)
        try:
            executor = get_executor(self.options.get("dask", ""), self.options.get("parallel") or runtime.parallel,
                                    remote=runtime.kind != "local")
        except Exception as exc:  # noqa: BLE001 - a cluster that cannot be reached fails the run, recorded
            return RunOutcome(self._end(parent, f"cannot start the executor: {secrets.mask(error_message(exc))}"))
        if executor.remote_workers:  # a worker elsewhere resolves nothing against the caller's directory
            try:
                runtime, rundb = _for_remote_workers(runtime, parent), absolute_local(rundb)
            except OSError as exc:
                executor.close()
                return RunOutcome(self._end(parent, f"cannot read {runtime.target}: {exc.strerror}"))
        progress = _Progress(len(self.points), self.names, sys.stderr if stream else None)
        results: dict[int, RunRecord] = {}
        logs: dict[int, bytes] = {}
        stop_reason, saved = "", time.monotonic()
        try:
            with executor:
                for child, future in self._execute(executor, runtime, parent, secrets, rundb, lambda: stop_reason):  # noqa: B023 - read as it changes
                    final, logs[child.metadata.iteration] = self._outcome(child, future, secrets)
                    results[child.metadata.iteration] = final
                    parent.metadata.name = parent.metadata.name or final.metadata.name  # the name the code gives
                    db.store_run(final, secrets)
                    progress.show(final)
                    stop_reason = stop_reason or self._stop_reason(final, results)
                    if time.monotonic() - saved >= PROGRESS_SAVE_INTERVAL:  # watch it with `mlrun get run UID`
                        parent.status.iterations, parent.status.last_update = self.table(results), now_iso()
                        db.store_run(parent, secrets)
                        saved = time.monotonic()
        except BaseException as exc:  # the parent must not stay "running" in the store
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else secrets.mask(error_message(exc))
            db.store_run(self._end(parent, reason), secrets)
            raise
        if stop_reason:
            progress.note(stop_reason)
            parent.metadata.annotations["stop_reason"] = stop_reason
        self._select(parent, results, secrets)
        log = b"".join(f"--- iteration {n} ---\n".encode() + logs[n] for n in sorted(logs) if logs[n])
        return RunOutcome(parent, log)

    def _execute(self, executor, runtime, parent, secrets, rundb, stopped):
        """Yield ``(child, future)`` as iterations finish, keeping at most ``executor.slots`` in flight."""
        import queue
        from concurrent.futures import Future

        finished: queue.SimpleQueue = queue.SimpleQueue()
        pending = iter(enumerate(self.points, start=1))
        out_base = parent.spec.default_output_path or _default_out_base(runtime)
        in_flight = 0
        while True:
            while in_flight < executor.slots and not stopped():
                number, params = next(pending, (0, None))
                if params is None:
                    break
                child = _child(parent, number, params, join_url(out_base, str(number)) if out_base else str(number))
                try:
                    future = executor.submit(runtime.run, child, secrets, rundb, False,
                                             key=f"mlrun-{parent.uid}-{number}")
                except Exception as exc:  # noqa: BLE001 - e.g. the cluster went away: this iteration failed
                    future = Future()
                    future.set_exception(exc)
                future.add_done_callback(lambda done, child=child: finished.put((child, done)))
                in_flight += 1
            if not in_flight:
                return
            yield finished.get()
            in_flight -= 1

    @staticmethod
    def _outcome(child: RunRecord, future, secrets: SecretsStore) -> tuple[RunRecord, bytes]:
        """The iteration's final record and log, whatever happened to it."""
        try:
            outcome = future.result()
        except Exception as exc:  # noqa: BLE001 - the runtime or the cluster failed, not the run's code
            final = child.copy()
            final.fail(secrets.mask(error_message(exc)))
            return final, b""
        final = outcome.record
        # the store's key is the parent's, whatever a remote function echoed back
        final.metadata.uid, final.metadata.iteration = child.metadata.uid, child.metadata.iteration
        return final, outcome.log or b""

    def _stop_reason(self, final: RunRecord, results: dict) -> str:
        if final.state == "error":
            return self._too_many_errors(results)
        if self.stop_condition is not None and self.stop_condition.met({**final.spec.parameters, **final.outputs}):
            return f"iteration {final.metadata.iteration} met the stop condition {self.stop_condition.text!r}"
        return ""

    def _too_many_errors(self, results: dict) -> str:
        max_errors = self.options.get("max_errors", 0)
        failed = sum(r.state == "error" for r in results.values())
        return f"{failed} iterations failed (max errors {max_errors})" if max_errors and failed >= max_errors else ""

    def table(self, results: Mapping[int, RunRecord]) -> list[list]:
        """The results table (``model.iterations_table``): the swept parameters' columns first, then the fixed ones."""
        return iterations_table([results[n] for n in sorted(results)], self.names)

    def _select(self, parent: RunRecord, results: dict, secrets: SecretsStore) -> None:
        """Pick the best iteration, fill in the parent's outputs, state and results artifact."""
        ordered = [results[n] for n in sorted(results)]
        completed = [r for r in ordered if r.state != "error"]
        error = self._too_many_errors(results)
        if not completed:
            first = next((r for r in ordered if r.state == "error"), None)
            error = error or (f"all {len(ordered)} iterations failed; iteration {first.metadata.iteration}: "
                              f"{first.status.error}" if first else "no iteration ran")
        elif self.selector is not None:
            best = self.selector.best((r.metadata.iteration, r.status.outputs) for r in completed)
            if best is None:
                error = (f"selector {self.selector.text}: no completed iteration has a numeric output "
                         f"{self.selector.key!r}")
            else:
                chosen = results[best]
                parent.status.outputs = {"best_iteration": best, **chosen.status.outputs}
                parent.status.output_artifacts = chosen.status.output_artifacts
        parent.status.iterations = self.table(results)
        try:
            log_artifact(parent, RESULTS_KEY, body=secrets.mask(_csv(parent.status.iterations)),
                         description="one row per iteration", format="csv", secrets=secrets)
        except Exception as exc:  # noqa: BLE001 - the table stays in the record; say why the file is missing
            error = error or f"cannot write {RESULTS_KEY}: {secrets.mask(error_message(exc))}"
        self._end(parent, error)

    @staticmethod
    def _end(parent: RunRecord, error: str) -> RunRecord:
        parent.finish(error)
        return parent


def _child(parent: RunRecord, number: int, params: Mapping, out_path: str) -> RunRecord:
    """Iteration ``number``: the parent's run with ``params`` merged in and its own output folder."""
    child = parent.copy()
    child.metadata.iteration = number
    child.spec.parameters.update(params)
    child.spec.hyperparams, child.spec.hyper_options = {}, {}
    child.spec.default_output_path = out_path  # iterations' artifacts must not overwrite each other
    now = now_iso()
    child.status = RunStatus(start_time=now, last_update=now)
    return child


def _for_remote_workers(runtime: Runtime, parent: RunRecord):
    """The runtime and spec as a worker in another directory (or on another machine) needs them:
    the script shipped with each task, output and input paths absolute."""
    spec = parent.spec
    spec.default_output_path = absolute_local(spec.default_output_path or _default_out_base(runtime))
    for item in (*spec.input_objects, *spec.output_artifacts):
        if isinstance(item, dict) and isinstance(item.get("path"), str):
            item["path"] = absolute_local(item["path"])
    if runtime.kind != "local":
        return runtime
    shipped = ShippedScript(runtime.target)
    spec.runtime = {**spec.runtime, "command": shipped.target}
    return shipped


def _default_out_base(runtime: Runtime) -> str:
    from ..config import default_out_path

    # a local child shares our working directory; a remote function resolves a relative path itself
    return default_out_path() or (os.getcwd() if runtime.kind in ("local", "handler") else "")


def _csv(rows: list[list]) -> str:
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([["" if v is None else v for v in row] for row in rows])
    return out.getvalue()


class _Progress:
    """One line per finished iteration on the terminal, so a long sweep shows where it is."""

    def __init__(self, total: int, names: list, stream):
        self.total, self.names, self.stream = total, names, stream

    def show(self, record: RunRecord) -> None:
        if self.stream is None:
            return
        params = ", ".join(f"{n}={record.spec.parameters.get(n)!r}" for n in self.names)
        if record.state == "error":
            result = record.status.error
        else:
            result = ", ".join(f"{k}={v}" for k, v in list(record.status.outputs.items())[:4] if is_scalar(v))
        self.note(f"iteration {record.metadata.iteration}/{self.total} {record.state}: {params} -> {result}")

    def note(self, text: str) -> None:
        if self.stream is not None:
            self.stream.write(f"mlrun: {text}\n")
            self.stream.flush()
