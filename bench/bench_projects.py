"""Project workflows: a 3-step local workflow of no-op handlers (``project.run(engine='local')``) beside the same
three ``project.run_function`` calls made directly (the baseline: what a workflow adds is loading its file and
recording itself).

    python bench/bench_projects.py                 # target: within 1.5x of the three direct runs (medians)
    python bench/bench_projects.py --runs 200

Both sides run interleaved, in a temporary project folder with its own run store; medians are quoted (ms).
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

TARGET_RATIO = 1.5
STEPS = ("one", "two", "three")
HANDLERS = "def noop(context):\n    pass\n"
WORKFLOW = ("import mlrun\n\n\ndef pipeline():\n    project = mlrun.get_current_project()\n" +
            "".join(f"    project.run_function({step!r})\n" for step in STEPS))


def measure(runs: int) -> dict:
    """Medians (ms) of both sides, in a temporary project folder with its own run store."""
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-projects-") as folder:
        os.chdir(folder)
        os.environ.update(MLRUN_DBPATH=os.path.join(folder, "db"), MLRUN_HOME=os.path.join(folder, "home"))
        return measure_here(runs)


def measure_here(runs: int) -> dict:
    import mlrun

    for name, text in (("noop.py", HANDLERS), ("workflow.py", WORKFLOW)):
        with open(name, "w") as fp:
            fp.write(text)
    project = mlrun.new_project("bench", "./", overwrite=True)
    for step in STEPS:
        project.set_function("noop.py", name=step, handler="noop", kind="local")
    project.set_workflow("main", "workflow.py")

    def direct():
        for step in STEPS:
            check(project.run_function(step).state())

    def workflow():
        check(project.run("main", engine="local").state)

    direct()
    workflow()  # the store, the functions' modules: made once, as in a session
    base, flow = [], []
    for _ in range(runs):  # interleaved, so each side sees the same machine
        base += timed(direct, 1)
        flow += timed(workflow, 1)
    return {"direct": statistics.median(base), "workflow": statistics.median(flow)}


def check(state: str) -> None:
    """Fail the benchmark on a run that did not complete (a fast failure is no result)."""
    if state != "completed":
        raise SystemExit(f"a run ended {state}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="workflows timed on each side (median quoted)")
    figures = measure(parser.parse_args().runs)
    base, ratio = figures["direct"], figures["workflow"] / figures["direct"]
    rows = [("3 no-op steps, stored (median)", "ms", "vs direct"),
            ("3 x project.run_function(...)  (baseline)", f"{base:.3f}", "1.00x"),
            ("project.run(main, engine=local)", f"{figures['workflow']:.3f}", f"{ratio:.2f}x")]
    for label, ms, versus in rows:
        print(f"{label:52} {ms:>8} {versus:>10}")
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    print(f"target: within {TARGET_RATIO}x of the direct runs: {verdict} ({ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
