"""Hyper-parameter sweeps: parallel iterations against the same sweep run one at a time.

    python bench/bench_hyper.py                  # local pool, Dask LocalCluster, remote fan-out
    python bench/bench_hyper.py --only remote    # one of: local, dask, remote
    python bench/bench_hyper.py --repeat 5 --iterations 64

Local: 64 iterations of a handler burning 0.2 s of CPU, each in its own child process, with
``--parallel 2`` and with ``--dask local`` (a LocalCluster of 2 worker processes, started and
stopped inside the measured time) against ``--parallel 1``.  Remote: 64 calls to a function served
by ``mlrun serve`` (8 threads, on 127.0.0.1) whose handler sleeps 0.1 s, 8 in flight against one
at a time.  Each figure is the median wall time of --repeat sweeps; the configurations alternate
within each repetition, so the baseline is measured side by side.  Byte-code caching is on (as
for an installed package), whatever PYTHONDONTWRITEBYTECODE says in the calling shell.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # children inherit it: they must not recompile mlrun each time

HANDLERS = '''
import time


def burn(ctx):
    """0.2 s of CPU, whatever else the machine does."""
    end = time.process_time() + ctx.get_param("seconds", 0.2)
    n = 0
    while time.process_time() < end:
        n += 1
    ctx.log_output("loops", n)


def nap(ctx):
    time.sleep(ctx.get_param("seconds", 0.1))
    ctx.log_output("slept", ctx.get_param("seconds", 0.1))
'''


def sweep(target: str, handler: str, iterations: int, work: str, **options) -> float:
    from mlrun.run import run_function

    db = tempfile.mkdtemp(dir=work)
    started = time.perf_counter()
    parent = run_function(target, handler=handler, hyperparams={"i": list(range(iterations))},
                          hyper_options=options, rundb=db, out_path=db, stream=False)
    elapsed = time.perf_counter() - started
    completed = sum(row[0] == "completed" for row in parent.status.iterations[1:])  # state, iter, ...
    if parent.state != "completed" or completed != iterations:
        sys.exit(f"sweep {options} failed: {parent.status.error or f'{completed}/{iterations} completed'}")
    return elapsed


def serve(path: str, work: str) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "MLRUN_HOME": work, "MLRUN_DBPATH": os.path.join(work, "served-db")}
    proc = subprocess.Popen([sys.executable, "-m", "mlrun", "serve", f"{path}:nap", "--port", str(port),
                             "--threads", "8"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit("mlrun serve did not start")
            time.sleep(0.05)  # polling for the port to open


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=64)
    parser.add_argument("--only", choices=["local", "dask", "remote"])
    args = parser.parse_args()
    n = args.iterations
    with tempfile.TemporaryDirectory() as work:
        os.environ["MLRUN_HOME"] = work
        path = os.path.join(work, "handlers.py")
        with open(path, "w") as fp:
            fp.write(HANDLERS)
        cases = {  # name: (configurations timed side by side: baseline first, then the measured one)
            "local": [("burn --parallel 1", dict(parallel=1)), ("burn --parallel 2", dict(parallel=2))],
            "dask": [("burn --parallel 1", dict(parallel=1)), ("burn --dask local", dict(dask="local", parallel=2))],
            "remote": [("nap URL --parallel 1", dict(parallel=1)), ("nap URL --parallel 8", dict(parallel=8))],
        }
        selected = [args.only] if args.only else list(cases)
        server = serve(path, work) if "remote" in selected else None
        times: dict[str, list[float]] = {}
        try:
            for r in range(args.repeat):
                for case in selected:
                    for label, options in cases[case]:
                        if case != "local" and label == "burn --parallel 1" and "local" in selected:
                            continue  # the local case already measures this baseline in the same repetition
                        target, handler = (server[1], "") if case == "remote" else (path, "burn")
                        times.setdefault(label, []).append(sweep(target, handler, n, work, **options))
                        print(f"  repetition {r + 1}: {label:<24} {times[label][-1]:7.2f} s", flush=True)
        finally:
            if server is not None:
                server[0].terminate()
                server[0].wait()
    targets = {"local": 1.7, "dask": 1.5, "remote": 3.0}
    print(f"\n{n} iterations, median of {args.repeat}, {os.cpu_count()} cores")
    print(f"{'sweep':<24} {'median s':>9}  {'baseline':<24} {'baseline s':>10}  {'speed-up':>8}  target")
    for case in selected:
        (base_label, _), (label, _) = cases[case]
        ours, base = statistics.median(times[label]), statistics.median(times[base_label])
        print(f"{label:<24} {ours:9.2f}  {base_label:<24} {base:10.2f}  {base / ours:7.2f}x  >= {targets[case]}x")


if __name__ == "__main__":
    main()
