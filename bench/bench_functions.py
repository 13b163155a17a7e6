"""Function objects: ``new_function(...).run(local=True)`` of a no-op handler in this process beside
``mlrun.run_start`` of the same handler (the baseline: what a function object adds to a run is its own cost).

    python bench/bench_functions.py                # target: within 1.2x of run_start (medians)
    python bench/bench_functions.py --runs 1000

Both sides run interleaved, in a temporary folder with its own run store; medians are quoted.
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

TARGET_RATIO = 1.2
NOOP_FILE = "def noop(context):\n    pass\n"


def noop(context):
    """The handler measured: it does nothing, so what is timed is the run's own cost."""


def measure(runs: int) -> dict:
    import mlrun

    with open("noop.py", "w") as fp:
        fp.write(NOOP_FILE)
    by_object = mlrun.new_function("noop", handler=noop)
    by_code = mlrun.new_function("noop-code", command="noop.py", handler="noop")
    for warm in (lambda: mlrun.run_start(handler=noop), lambda: by_object.run(local=True),
                 lambda: by_code.run(local=True)):
        check(warm())  # the store's file, tables and connection, the code's module: made once, as in a session
    start, obj, code = [], [], []
    for _ in range(runs):  # interleaved, so each side sees the same machine
        start += timed(lambda: check(mlrun.run_start(handler=noop)), 1)
        obj += timed(lambda: check(by_object.run(local=True)), 1)
        code += timed(lambda: check(by_code.run(local=True)), 1)
    return {"run_start": statistics.median(start), "function": statistics.median(obj),
            "function_code": statistics.median(code)}


def check(run):
    """Fail the benchmark on a run that did not complete (a fast failure is no result)."""
    if run.state() != "completed":
        raise SystemExit(f"run {run.uid} ended {run.state()}: {run.error}")
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="runs timed on each side (median quoted)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-functions-") as folder:
        os.chdir(folder)
        os.environ.update(MLRUN_DBPATH=os.path.join(folder, "db"), MLRUN_HOME=os.path.join(folder, "home"))
        figures = measure(args.runs)
    base = figures["run_start"]
    print(f"{'a no-op run, stored (median)':52} {'ms':>8} {'vs run_start':>13}")
    print(f"{'mlrun.run_start(handler=noop)  (baseline)':52} {base:8.3f} {1:12.2f}x")
    for key, label in (("function", "new_function(handler=noop).run(local=True)"),
                       ("function_code", "new_function(command='noop.py', handler='noop').run()")):
        print(f"{label:52} {figures[key]:8.3f} {figures[key] / base:12.2f}x")
    ratio = max(figures["function"], figures["function_code"]) / base
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    print(f"target: within {TARGET_RATIO}x of run_start: {verdict} ({ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
