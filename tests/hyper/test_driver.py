"""The sweep driver's rules, with an in-process fake runtime (no child processes): fast and exact."""
import threading

import pytest
from helpers import run_python

from mlrun.hyper import Sweep
from mlrun.model import RunRecord
from mlrun.run import new_run
from mlrun.rundb import get_run_db
from mlrun.runtimes import RunOutcome, Runtime
from mlrun.secrets import SecretsStore


class FakeRuntime(Runtime):
    """Scores ``accuracy = p``; fails for the values in ``failing``; raises for those in ``raising``."""

    kind = "local"

    def __init__(self, failing=(), raising=(), echo_iteration=None):
        super().__init__("fake.py")
        self.failing, self.raising, self.echo_iteration = set(failing), set(raising), echo_iteration
        self.started = []
        self._lock = threading.Lock()

    def run(self, record, secrets, dbpath, stream=True):
        p = record.spec.parameters["p"]
        with self._lock:
            self.started.append(p)
        if p in self.raising:
            raise ConnectionError(f"worker lost while running p={p} with {secrets.get('KEY')}")
        final = record.copy()
        final.metadata.name = "fake"
        if self.echo_iteration is not None:  # a remote function that does not echo the iteration back
            final.metadata.iteration = self.echo_iteration
        if p in self.failing:
            final.status.state, final.status.error = "error", f"ValueError: bad p={p}"
        else:
            final.status.state, final.status.outputs = "completed", {"accuracy": p, "model": {"p": p}}
        return RunOutcome(final, f"ran p={p}\n".encode())


def sweep(values, runtime=None, secrets=None, **options) -> tuple[RunRecord, bytes, FakeRuntime]:
    runtime = runtime or FakeRuntime()
    parent = new_run(name="", command="fake.py")
    parent.spec.hyperparams, parent.spec.hyper_options = {"p": list(values)}, options
    store = SecretsStore()
    store.add_source("inline", secrets or {})
    outcome = Sweep(parent).run(runtime, parent, store, get_run_db().url, stream=False)
    return outcome.record, outcome.log, runtime


def test_max_errors_stops_starting_iterations():
    parent, _, runtime = sweep([1, 2, 3, 4, 5], FakeRuntime(failing={2, 3}), parallel=1, max_errors=2)

    assert runtime.started == [1, 2, 3]
    assert parent.state == "error" and parent.status.error == "2 iterations failed (max errors 2)"
    assert parent.metadata.annotations["stop_reason"] == parent.status.error
    assert [row[:2] for row in parent.status.iterations[1:]] == [["completed", 1], ["error", 2], ["error", 3]]


def test_stop_condition_ends_the_sweep_early_and_says_why():
    parent, _, runtime = sweep([1, 5, 9, 2], parallel=1, stop_condition="accuracy >= 5", selector="max.accuracy")

    assert runtime.started == [1, 5]
    assert parent.state == "completed"
    assert parent.metadata.annotations["stop_reason"] == "iteration 2 met the stop condition 'accuracy >= 5'"
    assert parent.outputs == {"best_iteration": 2, "accuracy": 5, "model": {"p": 5}}


def test_iterations_in_flight_finish_after_the_stop():
    parent, _, runtime = sweep([7] + [1] * 40, parallel=2, stop_condition="accuracy > 5")

    started = len(runtime.started)
    assert 2 <= started < 41  # the second was in flight with the first; the sweep stopped well before the end
    assert [row[1] for row in parent.status.iterations[1:]] == list(range(1, started + 1))  # all recorded
    assert parent.state == "completed" and "iteration 1 met" in parent.metadata.annotations["stop_reason"]


def test_a_runtime_that_raises_fails_only_its_iteration_and_secrets_are_masked():
    parent, _, _ = sweep([1, 2, 3], FakeRuntime(raising={2}), secrets={"KEY": "s3cr3t-value"}, parallel=2)

    failed = RunRecord.from_dict(get_run_db().read_run_data(parent.uid, 2))
    assert failed.status.error == "ConnectionError: worker lost while running p=2 with ******"
    assert parent.state == "completed" and [r[0] for r in parent.status.iterations[1:]] == [
        "completed", "error", "completed"]


def test_iterations_are_stored_under_the_parent_uid_and_their_own_number():
    parent, log, _ = sweep([4, 6], FakeRuntime(echo_iteration=0), parallel=2)

    db = get_run_db()
    stored = db.read_run_data(parent.uid)  # as the driver left it for run_function to finish: not a child echoing 0
    assert stored["status"]["state"] == "running" and stored["status"]["outputs"] == {}
    assert [db.read_run_data(parent.uid, n)["status"]["outputs"]["accuracy"] for n in (1, 2)] == [4, 6]
    assert log == b"--- iteration 1 ---\nran p=4\n--- iteration 2 ---\nran p=6\n"
    assert parent.metadata.name == "fake"  # the name the code gave its runs


def test_the_table_keeps_scalar_outputs_only():
    parent, _, _ = sweep([3], parallel=1)

    assert parent.status.iterations == [["state", "iter", "param.p", "output.accuracy"], ["completed", 1, 3, 3]]
    assert "model" not in parent.status.iterations[0]


def test_an_executor_that_cannot_start_fails_the_run(monkeypatch):
    import mlrun.hyper.sweep as sweep_module

    def unreachable(*args, **kwargs):
        raise OSError("Timed out trying to connect to tcp://127.0.0.1:1 after 10 s")

    monkeypatch.setattr(sweep_module, "get_executor", unreachable)
    parent, _, runtime = sweep([1, 2])

    assert runtime.started == []
    assert parent.state == "error"
    assert parent.status.error == ("cannot start the executor: OSError: Timed out trying to connect to "
                                   "tcp://127.0.0.1:1 after 10 s")


def test_a_sweep_interrupted_leaves_the_parent_in_error():
    class Interrupting(FakeRuntime):
        def run(self, record, secrets, dbpath, stream=True):
            raise KeyboardInterrupt

    parent = new_run(command="fake.py")
    parent.spec.hyperparams = {"p": [1]}
    with pytest.raises(KeyboardInterrupt):
        # a pool thread re-raises it through the future: the driver must still close the parent
        Sweep(parent).run(Interrupting(), parent, SecretsStore(), get_run_db().url, stream=False)
    stored = get_run_db().read_run_data(parent.uid)
    assert stored["status"]["state"] == "error"


def test_dask_loads_only_for_a_dask_sweep():

    code = ("import sys, mlrun; assert 'mlrun.hyper' not in sys.modules; "
            "import mlrun.cli, mlrun.run, mlrun.hyper; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed', 'tornado'}))")
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_an_executor_that_refuses_work_fails_those_iterations(monkeypatch):
    from mlrun.hyper.executors import PoolExecutor

    submit = PoolExecutor.submit

    def flaky(self, fn, *args, key=""):
        if args[0].metadata.iteration == 2:
            raise RuntimeError("scheduler closed")
        return submit(self, fn, *args, key=key)

    monkeypatch.setattr(PoolExecutor, "submit", flaky)
    parent, _, runtime = sweep([1, 2, 3], parallel=1)

    assert runtime.started == [1, 3]
    assert [row[0] for row in parent.status.iterations[1:]] == ["completed", "error", "completed"]
    assert get_run_db().read_run_data(parent.uid, 2)["status"]["error"] == "RuntimeError: scheduler closed"
