"""Remote runs through ``mlrun serve``, side by side with a bare Flask app on the same WSGI server.

    python bench/bench_serve.py                  # 1,000 sequential runs each way, then 8 clients vs 1
    python bench/bench_serve.py --runs 200       # quicker

Sequential: ``mlrun.run_function(url, ...)`` runs the seed's handler (``handlers/seed.py:my_func``:
parameters, a secret, an input file, a metric history, an artifact) under ``mlrun serve``.  The
baseline is the same Python API call against a bare Flask app on waitress (as many threads) that
echoes the same JSON back (the run spec it got, its secrets left out), so the two differ only by
the server: what ``mlrun serve`` costs on top of Flask on waitress.  Both callers record every run
in a run store of their own.  A third line, plain ``requests`` POSTs to the echo app, shows what
HTTP alone costs.  The three alternate in rounds, so all see the same machine; reported: runs per
second (the median round), p50/p99 latency, and the ratio mlrun serve / echo.

Concurrent: 8 client threads (one caller process, as a pipeline driver running runs in parallel;
each with its own run store) against ``mlrun serve --threads 4``, vs 1: the throughput ratio
(median of 3).  Client processes would compete with the server for this machine's cores.

Servers listen on 127.0.0.1 at free ports and are stopped at the end.  Files (stores, inputs,
artifacts) live in /dev/shm when there is one (``--dir``), so the disk does not dominate.
"""
from __future__ import annotations

import argparse
import json
import functools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = os.path.join(ROOT, "handlers", "seed.py") + ":my_func"
SECRETS = {"ACCESS_KEY": "bench-access-key"}
ROUNDS = 5

ECHO_APP = """
import sys
from flask import Flask, request
from waitress import serve

app = Flask("echo")

@app.post("/")
def echo():
    body = request.get_json()
    body.pop("secrets", None)
    return body

@app.get("/healthz")
def healthz():
    return {"status": "ok"}

serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=int(sys.argv[2]), _quiet=True)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], url: str, cwd: str) -> subprocess.Popen:
    import requests

    env = {**os.environ, "MLRUN_HOME": os.path.join(cwd, "function-home")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited with code {proc.returncode}: {' '.join(command)}")
        try:
            requests.get(url + "/healthz", timeout=1)
            return proc
        except requests.ConnectionError:
            time.sleep(0.05)  # the port is not open yet
    proc.kill()
    sys.exit(f"server did not start: {' '.join(command)}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def api_run(url: str, infile: str, rundb: str, n: int) -> None:
    import mlrun

    record = mlrun.run_function(url, params={"p1": n}, inputs={"infile.txt": infile}, secrets=SECRETS,
                                stream=False, rundb=rundb)
    if record.state != "completed":
        raise RuntimeError(f"run failed: {record.status.error}")


def timed(call, count: int) -> list[float]:
    latencies = []
    for n in range(count):
        started = time.perf_counter()
        call(n)
        latencies.append(time.perf_counter() - started)
    return latencies


def sequential(mlrun_url: str, echo_url: str, work: str, runs: int) -> None:
    import requests

    from mlrun.run import new_run

    infile = os.path.join(work, "infile.txt")
    session = requests.Session()
    spec = new_run(params={"p1": 5}, inputs={"infile.txt": infile}, command=echo_url, kind="remote").to_dict()
    payload = json.dumps({**spec, "secrets": SECRETS})

    def plain_post(n: int) -> None:
        answer = session.post(echo_url, data=payload, headers={"Content-Type": "application/json"})
        answer.raise_for_status()
        answer.json()

    ways = {
        "mlrun serve": lambda n: api_run(mlrun_url, infile, os.path.join(work, "caller-mlrun"), n),
        "bare Flask echo": lambda n: api_run(echo_url, infile, os.path.join(work, "caller-echo"), n),
        "  (plain requests)": plain_post,
    }
    results = {name: ([], []) for name in ways}
    for call in ways.values():
        timed(call, 20)  # warm up: connections, imports, caches
    per_round = max(1, runs // ROUNDS)
    for _ in range(ROUNDS):
        for name, call in ways.items():
            latencies = timed(call, per_round)
            results[name][0].extend(latencies)
            results[name][1].append(len(latencies) / sum(latencies))
    print(f"\n{per_round * ROUNDS} sequential runs each through the Python API, in {ROUNDS} alternating rounds")
    print(f"{'':20} {'runs/s (median round)':>22} {'p50 ms':>8} {'p99 ms':>8}")
    rates = {}
    for name, (latencies, round_rates) in results.items():
        rates[name] = statistics.median(round_rates)
        print(f"{name:20} {rates[name]:22.0f} {percentile(latencies, 0.5) * 1000:8.2f} "
              f"{percentile(latencies, 0.99) * 1000:8.2f}")
    print(f"throughput ratio mlrun serve / bare Flask echo: {rates['mlrun serve'] / rates['bare Flask echo']:.2f}x "
          "(target >= 0.7x)")


def concurrent(url: str, work: str, runs: int, clients: int = 8) -> None:
    infile = os.path.join(work, "infile.txt")

    def rate(threads: int, attempt: int) -> float:
        per_client = max(1, runs // threads)
        stores = [os.path.join(work, f"caller-{attempt}-{threads}-{i}") for i in range(threads)]
        for store in stores:  # warm each caller's store and connection
            api_run(url, infile, store, 0)
        failures = []

        def caller(store: str) -> None:
            try:
                timed(functools.partial(api_run, url, infile, store), per_client)
            except Exception as exc:  # a failed run makes the figure meaningless: stop the benchmark
                failures.append(exc)

        pool = [threading.Thread(target=caller, args=(store,)) for store in stores]
        started = time.perf_counter()
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        if failures:
            sys.exit(str(failures[0]))
        return per_client * threads / (time.perf_counter() - started)

    pairs = [(rate(1, attempt), rate(clients, attempt)) for attempt in range(3)]
    one, many = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
    print(f"\n{clients} concurrent clients vs 1, against mlrun serve --threads 4 ({runs} runs a side, median of 3)")
    print(f"1 client: {one:.0f} runs/s   {clients} clients: {many:.0f} runs/s   ratio {many / one:.2f}x "
          "(target >= 1.5x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="sequential runs each way (default 1000)")
    parser.add_argument("--concurrent-runs", type=int, default=400, help="runs per concurrency test (default 400)")
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="where run stores, inputs and artifacts live (default: /dev/shm when there is one)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mlrun-bench-serve-", dir=args.dir) as work:
        with open(os.path.join(work, "infile.txt"), "w") as fp:
            fp.write("hello from infile.txt\n")
        mlrun_port, echo_port = free_port(), free_port()
        mlrun_url, echo_url = f"http://127.0.0.1:{mlrun_port}", f"http://127.0.0.1:{echo_port}"
        servers = [
            start([sys.executable, "-m", "mlrun", "serve", SEED, "--port", str(mlrun_port), "--threads", "4"],
                  mlrun_url, work),
            start([sys.executable, "-c", ECHO_APP, str(echo_port), "4"], echo_url, work),
        ]
        try:
            print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load average "
                  f"{os.getloadavg()[0]:.1f}; clients and servers on this machine; files in {work}")
            sequential(mlrun_url, echo_url, work, args.runs)
            concurrent(mlrun_url, work, args.concurrent_runs)
        except RuntimeError as exc:
            sys.exit(str(exc))
        finally:
            for server in servers:
                server.terminate()
                server.wait(10)


if __name__ == "__main__":
    main()
