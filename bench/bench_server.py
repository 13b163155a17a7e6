"""Run server benchmarks with 10,000 runs in the store.

    python bench/bench_server.py                  # 10,000 runs, 300 API requests, 9 page loads
    python bench/bench_server.py --runs 50000     # a bigger store
    python bench/bench_server.py --no-browser     # API figures only
    python bench/bench_server.py --postgres [--runs 100000]   # team servers: bench_pg.py (1,000,000 runs)

Figures, each against a baseline measured side by side in the same session:
- a page of 100 runs from ``GET /api/runs`` (varied filters, sorts and offsets, deep pages too),
  median and p95, vs. the same pages read straight from the store in-process (no HTTP, no Flask);
- the runs list page in headless chromium, navigation start to the load event and to the first
  contentful paint, vs. the same HTML and assets from a plain static file server (no app);
- a run page with a 20,000-point metric (downsampled to 1,000 for its chart), to the load event.

Targets (issue 6): API page <= 50 ms median; runs list page <= 1 s.  Needs chromium and chromedriver
(``apt-get install chromium chromium-driver``) unless --no-browser.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "tests", "server"), os.path.join(ROOT, "tests"), os.path.dirname(__file__)]

from server_process import running_server  # noqa: E402

from mlrun.model import RunRecord  # noqa: E402
from mlrun.rundb.sqlite import SQLiteRunDB  # noqa: E402
from mlrun.server.listing import ListQuery  # noqa: E402

API_TARGET_MS, PAGE_TARGET_MS = 50.0, 1000.0
NAMES = ("train", "evaluate", "prepare", "tune", "serve-test")
# a mix of what people ask: newest first, deep pages, filters, other sort orders
QUERIES = [
    {}, {"offset": "5000"}, {"offset": "9900"}, {"name": "train"}, {"state": "error"},
    {"label": "team=vision"}, {"project": "churn", "sort": "name", "desc": "false"},
    {"sort": "state", "offset": "3000"}, {"since": "2024-02-01", "until": "2024-02-15"},
    {"sort": "last_update", "label": "owner", "offset": "200"},
]
LONG_RUN = "long-metric-run"
# the first contentful paint may come after the load event: wait for it (buffered: also if it already came)
NAVIGATION = """
const done = arguments[arguments.length - 1];
const nav = performance.getEntriesByType('navigation')[0];
new PerformanceObserver((list, observer) => {
  const paint = list.getEntriesByName('first-contentful-paint')[0];
  if (paint) { observer.disconnect(); done([nav.loadEventEnd, paint.startTime]); }
}).observe({type: 'paint', buffered: true});
"""


def realistic_record(i: int, rng: random.Random, points: int = 100) -> dict:
    record = RunRecord()
    meta, spec, status = record.metadata, record.spec, record.status
    meta.uid, meta.name = f"{i:08d}{rng.getrandbits(96):024x}", NAMES[i % len(NAMES)]
    meta.project = ("churn", "vision", "ranking")[i % 3]
    meta.labels = {"owner": rng.choice(("ana", "bo", "cy")), "team": rng.choice(("vision", "nlp", "ops"))}
    spec.runtime = {"kind": "local", "command": f"{meta.name}.py"}
    spec.parameters = {"lr": rng.choice((0.1, 0.01, 0.001)), "epochs": points, "batch": 64, "optimizer": "adam",
                       "layers": [128, 64]}
    spec.input_objects = [{"key": "data.csv", "path": "s3://datasets/churn/data.csv"}]
    start = 1704067200 + i * 518  # 10,000 runs over two months
    status.start_time = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start))
    status.last_update = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start + rng.randint(5, 900)))
    status.state = rng.choices(("completed", "error", "running"), (90, 7, 3))[0]
    status.outputs = {"accuracy": round(rng.random(), 4), "f1": round(rng.random(), 4), "loss": rng.random(),
                      "model": "model.pkl"}
    status.metrics = {"loss": {"labels": {}, "xvalues": [str(s) for s in range(1, points + 1)],
                               "yvalues": [math.exp(-s / 30) + rng.random() / 20 for s in range(1, points + 1)]}}
    status.output_artifacts = [{"key": "model.pkl", "target_path": f"/tmp/artifacts/{meta.uid}/model.pkl",
                                "size": 2048, "format": "pkl"}]
    return record.to_dict()


def fill(store: str, runs: int) -> None:
    rng = random.Random(6)
    db = SQLiteRunDB(store)
    db._execute("BEGIN")  # one transaction: filling is setup, not what is measured
    for i in range(runs):
        db.store_run_data(realistic_record(i, rng))
    long = realistic_record(runs, rng, points=20_000)
    long["metadata"]["uid"] = LONG_RUN
    db.store_run_data(long)
    db._execute("COMMIT")
    db.close()


def timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, math.ceil(len(values) * 0.95) - 1)]


def bench_api(url: str, store: str, requests_count: int) -> dict:
    import requests

    session = requests.Session()
    db = SQLiteRunDB(store)
    cycle = [QUERIES[i % len(QUERIES)] for i in range(requests_count)]
    for query in QUERIES:  # warm the caches both sides read through
        assert len(session.get(url + "/api/runs", params=query, timeout=30).json()["runs"]) > 0, query
        ListQuery.from_args(query).fetch(db)
    api, store_times = [], []
    for query in cycle:  # interleaved, so both sides see the same machine
        api += timed(lambda query=query: session.get(url + "/api/runs", params=query, timeout=30).json(), 1)
        store_times += timed(lambda query=query: ListQuery.from_args(query).fetch(db), 1)
    return {"api": api, "store": store_times}


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def bench_pages(url: str, loads: int) -> dict:
    import requests
    from chromium import headless_chromium, quit_chromium

    folder = tempfile.mkdtemp(prefix="mlrun-bench-static-")
    html = requests.get(url + "/?offset=4000", timeout=30).text
    with open(os.path.join(folder, "runs.html"), "w") as fp:
        fp.write(html)
    shutil.copytree(os.path.join(ROOT, "mlrun", "server", "static"), os.path.join(folder, "static"))
    static = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=folder))
    threading.Thread(target=static.serve_forever, args=(0.05,), daemon=True).start()
    driver = headless_chromium()
    driver.set_script_timeout(30)
    try:
        def load(page: str) -> tuple[float, float]:
            driver.get(page)
            return tuple(driver.execute_async_script(NAVIGATION))

        load(url + "/")  # the first navigation of a fresh browser pays its own start-up
        figures: dict = {"list": [], "static": [], "run": []}
        for i in range(loads):
            figures["list"].append(load(f"{url}/?offset={(i * 1100) % 10000}"))
            figures["static"].append(load(f"http://127.0.0.1:{static.server_port}/runs.html?{i}"))
            figures["run"].append(load(f"{url}/runs/{LONG_RUN}?{i}"))
        drawn = driver.execute_script("return document.querySelectorAll('.chart canvas').length")
        assert drawn == 1, f"the run page drew {drawn} charts"
        return figures
    finally:
        quit_chromium(driver)
        static.shutdown()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true",
                        help="the team-server figures instead: PostgreSQL, 4 workers, filters, writes (bench_pg.py)")
    parser.add_argument("--runs", type=int, default=None,
                        help="runs in the store (default 10,000; 1,000,000 with --postgres)")
    parser.add_argument("--pg-dir", default="/var/tmp/mlrun-bench-pg",
                        help="where --postgres keeps its cluster (and loaded stores) between runs")
    parser.add_argument("--write-seconds", type=float, default=15.0, help="--postgres: seconds per write figure")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--loads", type=int, default=9, help="page loads per page kind")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    if args.postgres:
        import bench_pg

        args.runs = args.runs or 1_000_000
        bench_pg.main(args)
        return
    args.runs = args.runs or 10_000

    work = tempfile.mkdtemp(prefix="mlrun-bench-server-")
    store = os.path.join(work, "store")
    started = time.perf_counter()
    fill(store, args.runs)
    print(f"store: {args.runs:,} runs (+1 with a 20,000-point metric) in {time.perf_counter() - started:.1f}s "
          f"({os.path.getsize(os.path.join(store, 'runs.sqlite3')) / 1e6:.0f} MB)")

    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # the server runs as an installed package would
    try:
        with running_server(store) as server:
            api = bench_api(server.url, store, args.requests)
            pages = None if args.no_browser else bench_pages(server.url, args.loads)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    api_median, store_median = statistics.median(api["api"]), statistics.median(api["store"])
    print(f"\nGET /api/runs, page of 100 ({args.requests} requests over {len(QUERIES)} queries)")
    print(f"  API over HTTP        median {api_median:6.1f} ms   p95 {p95(api['api']):6.1f} ms   "
          f"target <= {API_TARGET_MS:.0f} ms median: {'met' if api_median <= API_TARGET_MS else 'MISSED'}")
    print(f"  store in-process     median {store_median:6.1f} ms   p95 {p95(api['store']):6.1f} ms   (baseline)")
    print(f"  ratio API / store    {api_median / store_median:.1f}x")
    if pages:
        def column(kind: str, index: int) -> float:
            return statistics.median(p[index] for p in pages[kind])

        list_load = column("list", 0)
        print(f"\nPages in headless chromium (median of {args.loads} loads; navigation start to ...)")
        print(f"  runs list (100 rows)   load {list_load:6.0f} ms   first paint {column('list', 1):6.0f} ms   "
              f"target <= {PAGE_TARGET_MS:.0f} ms: {'met' if list_load <= PAGE_TARGET_MS else 'MISSED'}")
        print(f"  same HTML, static      load {column('static', 0):6.0f} ms   first paint {column('static', 1):6.0f} ms"
              "   (baseline)")
        print(f"  ratio list / static    {list_load / column('static', 0):.1f}x")
        print(f"  run page, 20k points   load {column('run', 0):6.0f} ms   first paint {column('run', 1):6.0f} ms")
    print(json.dumps({"api_median_ms": round(api_median, 2), "api_p95_ms": round(p95(api["api"]), 2),
                      "store_median_ms": round(store_median, 2),
                      **({"list_page_load_ms": round(column("list", 0)), "static_page_load_ms":
                          round(column("static", 0)), "run_page_load_ms": round(column("run", 0))} if pages else {})}))


if __name__ == "__main__":
    main()
