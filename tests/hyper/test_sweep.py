"""Sweeps of real runs: local child processes, Dask (a LocalCluster it starts, or one it joins), a served function."""
import csv
import io
import itertools
import os
import subprocess
import sys

import pytest
from helpers import free_port, stop_process, wait_for_http
from sweep_handlers import WEIGHTS

from mlrun.errors import InvalidInputError
from mlrun.hyper import RESULTS_KEY
from mlrun.run import run_function
from mlrun.rundb import get_run_db

HANDLERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sweep_handlers.py")
GRID = {"p1": [1, 2, 3, 4], "p2": ["a", "b", "c"]}
HEADER = ["state", "iter", "param.p1", "param.p2", "output.accuracy", "output.loss"]


def expected_rows(grid=GRID):
    # grid order: the first parameter varies fastest
    return [["completed", n, p1, p2, p1 * WEIGHTS[p2], 100 - p1]
            for n, (p2, p1) in enumerate(itertools.product(grid["p2"], grid["p1"]), start=1)]


@pytest.fixture(scope="module")
def dask_address():
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0",
                           worker_dashboard_address="127.0.0.1:0")  # worker processes, reached over TCP
    yield cluster.scheduler_address
    cluster.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``mlrun serve`` of the train handler, on 127.0.0.1 with 8 threads."""
    home = tmp_path_factory.mktemp("served")
    port = free_port()
    env = {**os.environ, "MLRUN_HOME": str(home), "MLRUN_DBPATH": str(home / "db")}
    proc = subprocess.Popen([sys.executable, "-m", "mlrun", "serve", f"{HANDLERS}:train", "--port", str(port),
                             "--threads", "8"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/healthz", proc)
        yield url
    finally:
        stop_process(proc)


EXECUTORS = {
    "sequential": {"parallel": 1},
    "pool": {"parallel": 2},
    "dask-local": {"dask": "local", "parallel": 2},
    "dask-address": {},
    "remote": {"parallel": 8},
}


@pytest.mark.parametrize("executor", list(EXECUTORS))
def test_the_same_grid_gives_the_same_parent_through_every_executor(request, tmp_path, executor):
    options = dict(EXECUTORS[executor], selector="max.accuracy")
    target, handler = HANDLERS, "train"
    if executor == "dask-address":
        options["dask"] = request.getfixturevalue("dask_address")
    elif executor == "remote":
        target, handler = request.getfixturevalue("served"), ""
    out = tmp_path / "out"

    parent = run_function(target, handler=handler, hyperparams=GRID, hyper_options=options, out_path=str(out),
                          stream=False)

    assert parent.state == "completed", parent.status.error
    assert parent.status.iterations == [HEADER, *expected_rows()]
    assert parent.outputs == {"best_iteration": 12, "accuracy": 12, "loss": 96}
    assert parent.metadata.iteration == 0 and parent.spec.hyper_options["strategy"] == "grid"
    db = get_run_db()
    assert db.read_run_data(parent.uid) == parent.to_dict()
    for n, p1, p2, accuracy, _ in ((r[1], *r[2:]) for r in expected_rows()):
        child = db.read_run_data(parent.uid, n)
        assert child["metadata"]["iteration"] == n and child["status"]["state"] == "completed"
        assert child["spec"]["parameters"]["p1"] == p1 and child["spec"]["parameters"]["p2"] == p2
        assert child["status"]["outputs"]["accuracy"] == accuracy
        assert child["spec"]["hyperparams"] == {}  # an iteration never sweeps again
    assert len(db.list_runs(iterations=True)) == 13
    # each iteration's artifacts in its own folder; the best one's listed on the parent
    assert (out / "12" / "model.txt").read_text() == "model 4 c"
    assert (out / "1" / "model.txt").read_text() == "model 1 a"
    keys = [a["key"] for a in parent.status.output_artifacts]
    assert keys == ["model.txt", RESULTS_KEY]
    assert parent.status.output_artifacts[0]["target_path"] == str(out / "12" / "model.txt")
    table = list(csv.reader(io.StringIO((out / RESULTS_KEY).read_text())))
    assert table == [[str(v) for v in row] for row in parent.status.iterations]


def test_a_failing_iteration_is_recorded_and_the_sweep_goes_on(tmp_path):
    parent = run_function(HANDLERS, handler="train", hyperparams={"p2": ["a", "boom"], "p1": [1, 2]},
                          hyper_options={"selector": "max.accuracy", "parallel": 2}, out_path=str(tmp_path),
                          stream=False)

    assert parent.state == "completed" and parent.status.error == ""
    assert [row[:2] for row in parent.status.iterations[1:]] == [["completed", 1], ["error", 2], ["completed", 3],
                                                                ["error", 4]]
    assert parent.outputs["best_iteration"] == 3 and parent.outputs["accuracy"] == 2
    failed = get_run_db().read_run_data(parent.uid, 2)
    assert failed["status"]["state"] == "error"
    assert failed["status"]["error"] == "RuntimeError: cannot train with p1=1 p2=boom"
    log = get_run_db().read_log(parent.uid).decode()
    assert log.index("--- iteration 1 ---") < log.index("--- iteration 2 ---") < log.index("--- iteration 4 ---")
    assert "RuntimeError: cannot train with p1=2 p2=boom" in log


def test_when_every_iteration_fails_the_parent_is_in_error(tmp_path):
    parent = run_function(HANDLERS, handler="train", hyperparams={"p1": [0, 1], "p2": ["boom"]},
                          out_path=str(tmp_path), stream=False)

    assert parent.state == "error"
    assert parent.status.error == "all 2 iterations failed; iteration 1: RuntimeError: cannot train with p1=0 p2=boom"
    assert [row[0] for row in parent.status.iterations[1:]] == ["error", "error"]
    assert get_run_db().read_run_data(parent.uid)["status"]["state"] == "error"


def test_a_selector_naming_no_output_fails_the_parent_naming_it(tmp_path):
    parent = run_function(HANDLERS, handler="train", hyperparams={"p1": [1, 2]},
                          hyper_options={"selector": "max.f1"}, out_path=str(tmp_path), stream=False)

    assert parent.state == "error"
    assert parent.status.error == "selector max.f1: no completed iteration has a numeric output 'f1'"
    assert "best_iteration" not in parent.outputs
    assert [row[0] for row in parent.status.iterations[1:]] == ["completed", "completed"]


def test_a_random_sweep_records_its_seed_and_replays(tmp_path):
    options = {"strategy": "random", "max_iterations": 3, "parallel": 2}
    first = run_function(HANDLERS, handler="train", hyperparams=GRID, hyper_options=options, out_path=str(tmp_path),
                         stream=False)
    seed = first.spec.hyper_options["seed"]
    again = run_function(HANDLERS, handler="train", hyperparams=GRID, hyper_options=dict(options, seed=seed),
                         out_path=str(tmp_path), stream=False)

    assert isinstance(seed, int)
    assert len(first.status.iterations) == 4
    assert first.status.iterations == again.status.iterations


def test_secret_values_stay_out_of_the_table_the_records_and_the_log(tmp_path):
    secret = "tok-3f9a-very-secret"
    parent = run_function(HANDLERS, handler="train", hyperparams={"p1": [1, 2]}, secrets={"TOKEN": secret},
                          out_path=str(tmp_path), stream=False)

    db = get_run_db()
    log = db.read_log(parent.uid).decode()
    assert "token=******" in log and secret not in log
    for n in range(3):
        assert secret not in str(db.read_run_data(parent.uid, n))
    assert secret not in (tmp_path / RESULTS_KEY).read_text()


def test_param_file_rows_and_progress_lines(tmp_path, capsys):
    params = tmp_path / "params.csv"
    params.write_text("p1,p2\n3,a\n1,c\n")
    parent = run_function(HANDLERS, handler="train", hyper_options={"param_file": str(params), "selector": "min.loss"},
                          out_path=str(tmp_path), stream=True)

    assert parent.spec.hyperparams == {"p1": [3, 1], "p2": ["a", "c"]}
    assert parent.spec.hyper_options["strategy"] == "list"
    assert parent.status.iterations[1:] == [["completed", 1, 3, "a", 3, 97], ["completed", 2, 1, "c", 3, 99]]
    assert parent.outputs["best_iteration"] == 1
    err = capsys.readouterr().err
    assert "mlrun: iteration 1/2 completed: p1=3, p2='a' -> accuracy=3, loss=97" in err


@pytest.mark.parametrize("hyperparams, options, problem", [
    ({"p1": "[1,2]"}, {}, "hyperparams['p1'] must be a non-empty list"),
    ({"p1": [1]}, {"strategy": "best"}, "unknown strategy 'best'"),
    ({"p1": [1]}, {"selector": "max."}, "selector 'max.'"),
    ({"p1": [1]}, {"param_file": "missing.json"}, "param file not found: missing.json"),
    ({"p1": [1]}, {"stop_condition": "open('x')"}, "Call is not allowed"),
    ({"p1": [1]}, {"parallel": -1}, "parallel must be a non-negative integer"),
    ({"p1": [1]}, {"retries": 2}, "unknown hyper option 'retries'"),
    ({}, {"selector": "max.accuracy"}, "needs values to sweep"),
])
def test_bad_sweeps_raise_before_anything_is_stored(hyperparams, options, problem):
    with pytest.raises(InvalidInputError) as info:
        run_function(HANDLERS, handler="train", hyperparams=hyperparams, hyper_options=options, stream=False)
    assert problem in str(info.value)
    assert get_run_db().list_runs(iterations=True) == []
