"""Team-server benchmarks: a PostgreSQL store with 1,000,000 runs behind ``mlrun server --workers 4``.

    python bench/bench_server.py --postgres                  # 1,000,000 runs (loaded once, then cached)
    python bench/bench_server.py --postgres --runs 100000    # a smaller store

Figures:
- a page of 100 runs from ``GET /api/runs`` (filters, sorts, pages up to offset 10,000), median and p95;
- a filter on a numeric output (``outputs.accuracy > 0.95``, alone and with a label), median and p95;
- runs stored per second through the API by 4 server workers over PostgreSQL vs. 1 worker over the
  embedded SQLite store, side by side on this machine (4 client processes x 4 threads each).

Targets (issue 18): page <= 50 ms median; numeric filter <= 200 ms; 4 workers >= 3x one worker on SQLite.

The cluster lives in ``--pg-dir`` (default ``/var/tmp/mlrun-bench-pg``: PostgreSQL runs as the ``postgres`` user,
who cannot enter /root) and keeps its databases between runs (one per store size): the first run loads the runs
with COPY, later runs start at once.  PostgreSQL runs with ``synchronous_commit=off``, as SQLite in WAL mode with
``synchronous=NORMAL`` does not sync on each commit either.
"""
from __future__ import annotations

import json
import os
import random
import statistics
import tempfile
import threading
import time

from bench_server import NAMES, p95, timed  # noqa: F401 - the same helpers as the SQLite figures
from pgserver import running_pg_server
from server_process import running_server

PAGE_TARGET_MS, FILTER_TARGET_MS, WRITE_RATIO_TARGET = 50.0, 200.0, 3.0
PAGE_QUERIES = [
    {}, {"offset": "5000"}, {"offset": "9900"}, {"name": "train"}, {"state": "error"},
    {"label": "team=vision"}, {"project": "churn", "sort": "name", "desc": "false"},
    {"sort": "state", "offset": "3000"}, {"since": "2024-02-01", "until": "2024-02-15"},
    {"sort": "last_update", "label": "owner", "offset": "200"},
]
FILTER_QUERIES = [
    {"filter": "outputs.accuracy > 0.95"},
    {"filter": "outputs.accuracy > 0.95 and labels.team = vision"},
    {"filter": "outputs.f1 >= 0.99 or outputs.accuracy < 0.001"},
    {"filter": "outputs.accuracy > 0.9", "sort": "outputs.accuracy"},
    {"filter": "outputs.accuracy > 0.5 and parameters.lr = 0.01 and state = completed", "offset": "1000"},
]


def summary_and_record(i: int, rng: random.Random, runs: int) -> tuple:
    """The rows of one run, built directly (a million ``RunRecord`` round trips would take minutes)."""
    uid = f"{i:08d}{rng.getrandbits(96):024x}"
    name, project = NAMES[i % len(NAMES)], ("churn", "vision", "ranking")[i % 3]
    labels = {"owner": rng.choice(("ana", "bo", "cy")), "team": rng.choice(("vision", "nlp", "ops"))}
    start = 1704067200 + i * 5_184_000 // runs  # over two months
    start_time = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start))
    last_update = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start + rng.randint(5, 900)))
    state = rng.choices(("completed", "error", "running"), (90, 7, 3))[0]
    outputs = {"accuracy": round(rng.random(), 4), "f1": round(rng.random(), 4), "loss": rng.random(),
               "model": "model.pkl"}
    params = {"lr": rng.choice((0.1, 0.01, 0.001)), "epochs": 10, "batch": 64, "optimizer": "adam"}
    summary = {"uid": uid, "name": name, "project": project, "iteration": 0, "labels": labels, "state": state,
               "start_time": start_time, "last_update": last_update, "outputs": outputs, "parameters": params,
               "error": ""}
    record = {"kind": "run", "metadata": {"uid": uid, "name": name, "project": project, "iteration": 0,
                                          "labels": labels},
              "spec": {"runtime": {"kind": "local", "command": f"{name}.py"},
                       "parameters": {**params, "layers": [128, 64]}},
              "status": {"state": state, "start_time": start_time, "last_update": last_update, "outputs": outputs,
                         "metrics": {"loss": {"labels": {}, "xvalues": [str(s) for s in range(1, 11)],
                                              "yvalues": [rng.random() for _ in range(10)]}}}}
    numbers = [(uid, 0, kind, key, float(value)) for kind, values in (("o", outputs), ("p", params))
               for key, value in values.items() if isinstance(value, (int, float))]
    return (uid, 0, project, name, state, start_time, last_update, json.dumps(labels), json.dumps(summary)), \
        (uid, 0, json.dumps(record)), numbers


def load(url: str, runs: int) -> None:
    """Fill an empty store with ``runs`` runs by COPY (schema made first by the store itself)."""
    import psycopg

    from mlrun.rundb.postgres import PostgresRunDB

    PostgresRunDB(url).list_runs(limit=1)  # creates the schema
    copies = (("COPY runs (uid, iteration, project, name, state, start_time, last_update, labels, summary)"
               " FROM STDIN", lambda rows: [rows[0]]),
              ("COPY run_records (uid, iteration, record) FROM STDIN", lambda rows: [rows[1]]),
              ("COPY run_numbers (uid, iteration, kind, key, value) FROM STDIN", lambda rows: rows[2]))
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            for sql, pick in copies:  # runs first (the others refer to them); the same rows each pass
                rng = random.Random(18)
                with cur.copy(sql) as copy:
                    for i in range(runs):
                        for row in pick(summary_and_record(i, rng, runs)):
                            copy.write_row(row)
                print(f"  {sql.split()[1]}: {runs:,} runs", flush=True)
            cur.execute("CREATE TABLE bench_loaded (runs INTEGER)")
            cur.execute("INSERT INTO bench_loaded VALUES (%s)", (runs,))
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def ensure_database(server, runs: int) -> str:
    """The URL of the cluster's database with ``runs`` runs, loaded now if it is not there yet."""
    import psycopg

    name = f"bench_{runs}"
    url = server.url(name)
    with server.admin() as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if exists:
        try:
            with psycopg.connect(url) as conn:
                if conn.execute("SELECT runs FROM bench_loaded").fetchone()[0] == runs:
                    return url
        except psycopg.Error:
            pass
        with server.admin() as admin:
            admin.execute(f'DROP DATABASE "{name}"')
    with server.admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    started = time.perf_counter()
    print(f"loading {runs:,} runs into PostgreSQL (once: the cluster is kept in --pg-dir)", flush=True)
    load(url, runs)
    print(f"  loaded in {time.perf_counter() - started:.0f}s", flush=True)
    return url


def bench_reads(url: str, queries: list[dict], requests_count: int) -> list[float]:
    import requests

    session = requests.Session()
    for query in queries:  # warm: each worker's connection, the database's caches
        for _ in range(4):
            answer = session.get(url + "/api/runs", params=query, timeout=60)
            assert answer.status_code == 200 and answer.json()["runs"], (query, answer.text[:200])
    return [t for i in range(requests_count)
            for t in timed(lambda i=i: session.get(url + "/api/runs", params=queries[i % len(queries)],
                                                   timeout=60).json(), 1)]


def _write_client(url: str, n: int, deadline: float, threads: int, results) -> None:
    """One client process: ``threads`` threads storing runs until ``deadline``; puts how many it stored."""
    import requests
    from bench_server import realistic_record

    rng = random.Random(n)
    records = [realistic_record(i, rng, points=20) for i in range(50)]
    bodies = [json.dumps(r).encode() for r in records]
    stored = [0] * threads

    def client(t: int) -> None:
        session = requests.Session()
        i = 0
        while time.time() < deadline:
            record = records[i % len(records)]
            uid = f"w{n:02d}{t:02d}{i:07d}" + record["metadata"]["uid"][11:]
            body = bodies[i % len(bodies)].replace(record["metadata"]["uid"].encode(), uid.encode())
            answer = session.put(f"{url}/api/runs/{uid}", data=body, headers={"Content-Type": "application/json"},
                                 timeout=60)
            assert answer.status_code == 200, answer.text
            stored[t] += 1
            i += 1

    pool = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    results.put(sum(stored))


def bench_writes(url: str, seconds: float, processes: int = 4, threads: int = 4) -> float:
    """Runs stored per second through ``PUT /api/runs/UID`` by ``processes`` x ``threads`` clients."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    results = context.Queue()
    started = time.time() + 1.0  # every client process is up before the clock starts
    procs = [context.Process(target=_write_client, args=(url, n, started + seconds, threads, results))
             for n in range(processes)]
    for proc in procs:
        proc.start()
    total = sum(results.get(timeout=seconds + 120) for _ in procs)
    for proc in procs:
        proc.join()
    return total / (time.time() - started)


def main(args) -> None:
    pg_dir = os.path.expanduser(args.pg_dir)
    os.makedirs(pg_dir, exist_ok=True)
    figures: dict = {}
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    settings = ["-c", "synchronous_commit=off", "-c", "shared_buffers=512MB"]
    with running_pg_server(os.path.join(pg_dir, "data"), fast=False, settings=settings) as pg:
        url = ensure_database(pg, args.runs)
        work = tempfile.mkdtemp(prefix="mlrun-bench-pg-")
        with running_server(url, log_dir=work, args=("--workers", "4")) as server:
            pages = bench_reads(server.url, PAGE_QUERIES, args.requests)
            filters = bench_reads(server.url, FILTER_QUERIES, args.requests // 2)
        write_db = pg.new_database(f"bench_writes_{int(time.time())}")
        with running_server(write_db, log_dir=work, args=("--workers", "4")) as server:
            pg_rate = bench_writes(server.url, args.write_seconds)
        with running_server(os.path.join(work, "sqlite-store"), log_dir=work) as server:
            sqlite_rate = bench_writes(server.url, args.write_seconds)
        with running_server(os.path.join(work, "sqlite-store-4"), log_dir=work, args=("--workers", "4")) as server:
            sqlite4_rate = bench_writes(server.url, args.write_seconds)
        with pg.admin() as admin:
            admin.execute(f'DROP DATABASE "{write_db.rsplit("/", 1)[1]}"')
    print(f"\nPostgreSQL store with {args.runs:,} runs, mlrun server --workers 4")
    page_median, filter_median = statistics.median(pages), statistics.median(filters)
    print(f"  page of 100 ({len(pages)} requests, {len(PAGE_QUERIES)} queries)   median {page_median:6.1f} ms   "
          f"p95 {p95(pages):6.1f} ms   target <= {PAGE_TARGET_MS:.0f} ms: "
          f"{'met' if page_median <= PAGE_TARGET_MS else 'MISSED'}")
    print(f"  numeric-output filter ({len(filters)} requests)      median {filter_median:6.1f} ms   "
          f"p95 {p95(filters):6.1f} ms   target <= {FILTER_TARGET_MS:.0f} ms: "
          f"{'met' if filter_median <= FILTER_TARGET_MS else 'MISSED'} (median)")
    ratio = pg_rate / sqlite_rate
    print(f"\nRuns stored per second through the API (4 client processes x 4 threads, {args.write_seconds:.0f} s each)")
    print(f"  4 workers, PostgreSQL   {pg_rate:7.0f}/s")
    print(f"  1 worker, SQLite        {sqlite_rate:7.0f}/s   (baseline)")
    print(f"  4 workers, SQLite       {sqlite4_rate:7.0f}/s   (writers serialize on the file)")
    print(f"  ratio                   {ratio:.1f}x   target >= {WRITE_RATIO_TARGET:.0f}x: "
          f"{'met' if ratio >= WRITE_RATIO_TARGET else 'MISSED'}")
    figures.update(runs=args.runs, page_median_ms=round(page_median, 2), page_p95_ms=round(p95(pages), 2),
                   filter_median_ms=round(filter_median, 2), filter_p95_ms=round(p95(filters), 2),
                   pg_4_workers_per_s=round(pg_rate), sqlite_1_worker_per_s=round(sqlite_rate),
                   sqlite_4_workers_per_s=round(sqlite4_rate), ratio=round(ratio, 2))
    print(json.dumps(figures))
