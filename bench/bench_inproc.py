"""In-process runs: a no-op handler run by ``mlrun.run_start`` (its records committed to the embedded SQLite
store included) and a 100-iteration in-process sweep, beside the same work through ``run_function`` on a file
(a child process per run: the baseline an in-process run saves).

    python bench/bench_inproc.py                   # targets: a run <= 2 ms (median), a 100-iteration sweep <= 0.5 s
    python bench/bench_inproc.py --runs 500 --sweeps 9 --baseline 5

Everything runs in a temporary folder with its own run store; medians are quoted.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # this checkout's mlrun, also when run from elsewhere
sys.path.insert(0, HERE)

from bench_server import timed  # noqa: E402 - the one timing loop of the benchmarks

RUN_TARGET_MS = 2.0
SWEEP_TARGET_S = 0.5
NOOP_FILE = "def noop(ctx):\n    pass\n"


def noop(context):
    """The handler measured: it does nothing, so what is timed is the run's own cost."""


def median_time(fn, repeat: int) -> float:
    """The median of ``repeat`` timings of ``fn()``, in seconds."""
    return statistics.median(timed(fn, repeat)) / 1000


def measure(args) -> dict:
    import mlrun
    from mlrun.rundb import get_run_db

    db = get_run_db()
    mlrun.run_start(handler=noop)  # the store's file, tables and connection are made once, as in a session
    figures = {"run": median_time(lambda: check(mlrun.run_start(handler=noop)), args.runs)}
    if db.count_runs() != args.runs + 1:  # every run really went to the store
        raise SystemExit(f"expected {args.runs + 1} stored runs, found {db.count_runs()}")
    hyper = {"p1": list(range(100))}
    figures["sweep"] = median_time(lambda: check(mlrun.run_start(handler=noop, hyperparams=hyper, stream=False),
                                                 iterations=100), args.sweeps)
    with open("noop.py", "w") as fp:
        fp.write(NOOP_FILE)
    figures["file_run"] = median_time(lambda: mlrun.run_function("noop.py", handler="noop", stream=False),
                                      args.baseline)
    figures["file_sweep"] = median_time(
        lambda: mlrun.run_function("noop.py", handler="noop", stream=False, hyperparams={"p1": list(range(10))}),
        1) * 10  # 10 iterations of a file sweep, scaled to 100: each is a process
    return figures


def check(run, iterations: int = 0):
    """Fail the benchmark on a run that did not complete (a fast failure is no result)."""
    if run.state() != "completed" or len(run.status.iterations) != (iterations + 1 if iterations else 0):
        raise SystemExit(f"run {run.uid} ended {run.state()}: {run.error}")
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="in-process runs timed (median quoted)")
    parser.add_argument("--sweeps", type=int, default=5, help="100-iteration sweeps timed (median quoted)")
    parser.add_argument("--baseline", type=int, default=5, help="child-process runs timed (median quoted)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-inproc-") as folder:
        os.chdir(folder)
        os.environ.update(MLRUN_DBPATH=os.path.join(folder, "db"), MLRUN_HOME=os.path.join(folder, "home"))
        figures = measure(args)
    run_ms, sweep_s = figures["run"] * 1000, figures["sweep"]
    print(f"{'':34} {'in-process':>12} {'child process':>14} {'ratio':>8}")
    print(f"{'a no-op run, stored (median)':34} {run_ms:10.2f}ms {figures['file_run'] * 1000:12.1f}ms "
          f"{figures['file_run'] / figures['run']:7.0f}x")
    print(f"{'a 100-iteration sweep (median)':34} {sweep_s:11.3f}s {figures['file_sweep']:13.2f}s "
          f"{figures['file_sweep'] / sweep_s:7.0f}x   (child: 10 iterations x 10)")
    ok = run_ms <= RUN_TARGET_MS and sweep_s <= SWEEP_TARGET_S
    print(f"targets: run <= {RUN_TARGET_MS} ms: {'met' if run_ms <= RUN_TARGET_MS else 'MISSED'}; "
          f"sweep <= {SWEEP_TARGET_S} s: {'met' if sweep_s <= SWEEP_TARGET_S else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
