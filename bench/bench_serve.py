"""Remote runs through ``mlrun serve``, side by side with a bare Flask app on the same WSGI server.

    python bench/bench_serve.py                  # 1,000 sequential runs each way, then 8 clients vs 1
    python bench/bench_serve.py --runs 200       # quicker

Sequential: ``mlrun.run_function(url, ...)`` runs the seed's handler (``handlers/seed.py:my_func``:
parameters, a secret, an input file, a metric history, an artifact) under ``mlrun serve``.  The
baseline is the same Python API call against a bare Flask app on waitress (as many threads) that
echoes the same JSON back (the run spec it got, its secrets left out), so the two differ only by
the server: what ``mlrun serve`` costs on top of Flask on waitress.  Both callers record every run
in a run store of their own.  A third line, plain ``requests`` POSTs to the echo app, shows what
HTTP alone costs.  The three alternate in 20 short rounds, so all see the same machine; reported:
runs per second (the median round), p50/p99 latency, and the ratio mlrun serve / echo (the median
of the rounds' ratios).

Concurrent: 8 client processes (each with its own run store, as parallel pipeline steps would be)
against ``mlrun serve --threads 4``, vs 1 client process: the throughput ratio (the median of 5
paired attempts; each starts the clock once every client is warm).
Clients and server share this machine's cores, so the ratio is bounded by the core count, and the
server's share of the cores is shown.  Then the same 4 server threads as ``--workers 2 --threads 2``:
one Python process runs one thread at a time, so a CPU-bound handler scales with worker processes.
Last, the same test against the bare Flask echo: a server with almost nothing to do, whose ratio
shows what the clients' own work leaves to gain on this machine.

Servers listen on 127.0.0.1 at free ports and are stopped at the end.  Files (stores, inputs,
artifacts) live in /dev/shm when there is one (``--dir``), so the disk does not dominate.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = os.path.join(ROOT, "handlers", "seed.py") + ":my_func"
SECRETS = {"ACCESS_KEY": "bench-access-key"}
#: short alternating rounds: this machine's speed drifts, and each pair of rounds sees the same speed
ROUNDS = 20
#: paired 1-client / 8-client measurements per server configuration
ATTEMPTS = 5

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
    paired = [m / e for m, e in zip(results["mlrun serve"][1], results["bare Flask echo"][1], strict=True)]
    print(f"throughput ratio mlrun serve / bare Flask echo: {statistics.median(paired):.2f}x, median of the "
          f"{ROUNDS} rounds' ratios (quartiles {_quartiles(paired)}; target >= 0.7x)")


def _quartiles(values: list[float]) -> str:
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f"{q1:.2f}-{q3:.2f}"


def _client(url: str, infile: str, store: str, count: int, ready, start, done) -> None:
    """One client process: warm up, say so, wait for the start signal, run ``count`` runs, report."""
    api_run(url, infile, store, 0)  # warm this caller's store and connection
    ready.put(True)
    start.wait()
    timed(functools.partial(api_run, url, infile, store), count)
    done.put(count)


def _proc_stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (which may hold spaces): state, ppid, ..."""
    with open(f"/proc/{pid}/stat") as fp:
        return fp.read().rsplit(")", 1)[1].split()


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) of a server and its worker processes; ``None`` without /proc."""
    try:
        processes = [pid]
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and int(_proc_stat(int(entry))[1]) == pid:
                    processes.append(int(entry))
            except OSError:  # gone meanwhile
                pass
        return sum(int(f[11]) + int(f[12]) for f in map(_proc_stat, processes)) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None


def concurrent(url: str, work: str, runs: int, server: str, pid: int, clients: int = 8) -> None:
    import multiprocessing

    infile = os.path.join(work, "infile.txt")
    context = multiprocessing.get_context("fork")

    def rate(processes: int, attempt: int) -> float:
        per_client = max(1, runs // processes)
        ready, start, done = context.Queue(), context.Event(), context.Queue()
        callers = [os.path.join(work, f"caller-{attempt}-{processes}-{i}") for i in range(processes)]
        pool = [context.Process(target=_client, args=(url, infile, caller, per_client, ready, start, done))
                for caller in callers]
        for proc in pool:
            proc.start()
        for _ in pool:  # the clock starts once every client is warm: starting processes is not serving
            ready.get(timeout=120)
        cpu_before = _cpu_seconds(pid)
        started = time.perf_counter()
        start.set()
        total = sum(done.get(timeout=600) for _ in pool)
        elapsed = time.perf_counter() - started
        cpu_after = _cpu_seconds(pid)
        for proc in pool:
            proc.join()
            if proc.exitcode:
                sys.exit(f"a client failed with exit code {proc.exitcode}")
        if processes == clients and cpu_before is not None and cpu_after is not None:
            server_busy.append((cpu_after - cpu_before) / elapsed)
        return total / elapsed

    server_busy: list[float] = []
    pairs = [(rate(1, attempt), rate(clients, attempt)) for attempt in range(ATTEMPTS)]
    one, many = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
    ratios = [m / o for o, m in pairs]
    print(f"\n{clients} concurrent client processes vs 1, against {server} ({runs} runs a side, "
          f"{ATTEMPTS} paired attempts)")
    print(f"1 client: {one:.0f} runs/s   {clients} clients: {many:.0f} runs/s (medians)   ratio "
          f"{statistics.median(ratios):.2f}x, median of the attempts' ratios (quartiles {_quartiles(ratios)}"
          + ("; target >= 1.5x)" if server.startswith("mlrun") else ")"))
    if server_busy:
        print(f"  while {clients} clients ran, the server's processes kept {statistics.median(server_busy):.2f} of "
              f"this machine's {os.cpu_count()} cores busy (median)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="sequential runs each way (default 1000)")
    parser.add_argument("--concurrent-runs", type=int, default=800,
                        help="runs per concurrency test (default 800: 100 per client)")
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="where run stores, inputs and artifacts live (default: /dev/shm when there is one)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mlrun-bench-serve-", dir=args.dir) as work:
        with open(os.path.join(work, "infile.txt"), "w") as fp:
            fp.write("hello from infile.txt\n")
        mlrun_port, echo_port, workers_port = free_port(), free_port(), free_port()
        mlrun_url, echo_url = f"http://127.0.0.1:{mlrun_port}", f"http://127.0.0.1:{echo_port}"
        workers_url = f"http://127.0.0.1:{workers_port}"
        servers = [
            start([sys.executable, "-m", "mlrun", "serve", SEED, "--port", str(mlrun_port), "--threads", "4",
                   "--out-path", work], mlrun_url, work),
            start([sys.executable, "-c", ECHO_APP, str(echo_port), "4"], echo_url, work),
            start([sys.executable, "-m", "mlrun", "serve", SEED, "--port", str(workers_port), "--threads", "2",
                   "--workers", "2", "--out-path", work], workers_url, work),
        ]
        try:
            print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load average "
                  f"{os.getloadavg()[0]:.1f}; clients and servers on this machine; files in {work}")
            sequential(mlrun_url, echo_url, work, args.runs)
            concurrent(mlrun_url, work, args.concurrent_runs, "mlrun serve --threads 4", servers[0].pid)
            # the same 4 threads in 2 processes: Python runs one thread at a time per process
            concurrent(workers_url, work, args.concurrent_runs, "mlrun serve --workers 2 --threads 2", servers[2].pid)
            # what the clients' own work leaves to gain on this machine, with a server that does almost nothing
            concurrent(echo_url, work, args.concurrent_runs, "the bare Flask echo (4 threads)", servers[1].pid)
        except RuntimeError as exc:
            sys.exit(str(exc))
        finally:
            for server in servers:
                server.terminate()
                server.wait(10)


if __name__ == "__main__":
    main()
