"""Core benchmarks: import and CLI start-up, a tracked run as a whole process (vs MLflow), logging a
million metric points, and listing 10,000 stored runs.

    python bench/bench_core.py                 # everything; installs MLflow into bench/.venv-mlflow once
    python bench/bench_core.py --no-mlflow     # mlrun figures only
    python bench/bench_core.py --repeat 9      # more repetitions (medians are quoted)

Each figure is the median of --repeat fresh processes.  Byte-code caching is on (as for an installed
package), whatever PYTHONDONTWRITEBYTECODE says in the calling shell.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

MLRUN_RUN = """
import sys, time
t0 = time.perf_counter()
from mlrun import get_or_create_ctx
ctx = get_or_create_ctx("bench", rundb=sys.argv[2])
for i in range(10):
    ctx.get_param(f"p{i}", i)
for step in range(int(sys.argv[1])):
    ctx.log_metric("loss", 1.0 / (step + 1), step)
for i in range(5):
    ctx.log_output(f"out{i}", i * 0.5)
ctx.log_artifact("model.bin", body=b"x" * 1024)
ctx.commit()
ctx.finish(commit=False)
"""

MLFLOW_RUN = """
import sys
import mlflow
with mlflow.start_run():
    mlflow.log_params({f"p{i}": i for i in range(10)})
    for step in range(int(sys.argv[1])):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    for i in range(5):
        mlflow.log_metric(f"out{i}", i * 0.5)
    with open("model.bin", "wb") as fp:
        fp.write(b"x" * 1024)
    mlflow.log_artifact("model.bin")
"""

MILLION = """
import resource, sys, time
from mlrun import get_or_create_ctx
ctx = get_or_create_ctx("million", rundb=sys.argv[1])
t0 = time.perf_counter()
log = ctx.log_metric
for step in range(1_000_000):
    log("loss", step * 0.5)
t1 = time.perf_counter()
ctx.commit()
t2 = time.perf_counter()
ctx.finish(commit=False)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{t1 - t0} {t2 - t1} {peak}")
"""

FILL_STORE = """
import sys
from mlrun.model import RunRecord
from mlrun.rundb.sqlite import SQLiteRunDB
db = SQLiteRunDB(sys.argv[1])
conn = db._db
conn.execute("BEGIN")
for i in range(int(sys.argv[2])):
    r = RunRecord()
    r.metadata.uid, r.metadata.name = f"{i:032x}", f"train-{i % 7}"
    r.metadata.labels = {"owner": "bench", "team": "ab"[i % 2]}
    r.spec.parameters = {"lr": 0.1 * (i % 10), "epochs": i % 50}
    r.status.state = "completed" if i % 13 else "error"
    r.status.start_time = r.status.last_update = f"2024-01-01T00:00:{i % 60:02d}.{i:06d}+00:00"
    r.status.outputs = {"accuracy": (i % 100) / 100, "loss": 1 / (i + 1)}
    r.status.metrics = {"loss": {"labels": {}, "xvalues": [str(s) for s in range(20)], "yvalues": list(range(20))}}
    db.store_run_data(r.to_dict())
conn.execute("COMMIT")
"""


def timed(cmd: list[str], cwd: str | None = None, env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env or ENV, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def median_of(repeat: int, fn) -> float:
    fn()  # warm-up: byte-code caches, page cache
    return statistics.median(fn() for _ in range(repeat))


def mlflow_python(args) -> str | None:
    if args.no_mlflow:
        return None
    if args.mlflow_python:
        return args.mlflow_python
    venv = os.path.join(HERE, ".venv-mlflow")
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        print("installing MLflow into bench/.venv-mlflow (once) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "mlflow"], check=True)
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-mlflow", action="store_true", help="skip the MLflow side")
    parser.add_argument("--mlflow-python", help="an interpreter with MLflow installed")
    parser.add_argument("--mlflow-tracking-uri", default="",
                        help="MLflow store to compare with (default: MLflow's own default, SQLite in MLflow 3; "
                             "'file:./mlruns' for its file store)")
    args = parser.parse_args()
    rows: list[tuple] = []
    mlflow_py = mlflow_python(args)
    mlrun_script = os.path.join(os.path.dirname(PY), "mlrun")

    with tempfile.TemporaryDirectory() as tmp:
        t_yaml = median_of(args.repeat, lambda: timed([PY, "-c", "import yaml"]))
        t_mlrun = median_of(args.repeat, lambda: timed([PY, "-c", "import mlrun"]))
        rows.append(("import mlrun (s)", t_mlrun, t_yaml, "import yaml", t_mlrun / t_yaml, "<= 2.0x baseline"))
        if mlflow_py:
            t_mlflow = median_of(args.repeat, lambda: timed([mlflow_py, "-c", "import mlflow"]))
            rows.append(("import mlrun vs mlflow (s)", t_mlrun, t_mlflow, "import mlflow", t_mlrun / t_mlflow, ""))
        t_help = median_of(args.repeat, lambda: timed([mlrun_script, "--help"]))
        rows.append(("mlrun --help (s)", t_help, None, "", None, "< 0.150 s"))
        if mlflow_py:
            mlflow_cli = os.path.join(os.path.dirname(mlflow_py), "mlflow")
            t_mlflow_help = median_of(args.repeat, lambda: timed([mlflow_cli, "--help"]))
            rows.append(("mlrun --help vs mlflow --help (s)", t_help, t_mlflow_help, "mlflow --help",
                         t_help / t_mlflow_help, ""))

        script = os.path.join(tmp, "run_mlrun.py")
        with open(script, "w") as fp:
            fp.write(MLRUN_RUN)
        mlflow_script = os.path.join(tmp, "run_mlflow.py")
        with open(mlflow_script, "w") as fp:
            fp.write(MLFLOW_RUN)
        for points, target in ((1000, 10), (10000, 25)):
            work = tempfile.mkdtemp(dir=tmp)
            t_run = median_of(args.repeat, lambda points=points, work=work: timed([PY, script, str(points),
                                                                              os.path.join(work, "db")], cwd=work))
            if mlflow_py:
                mwork = tempfile.mkdtemp(dir=tmp)
                mlflow_env = (dict(ENV, MLFLOW_TRACKING_URI=args.mlflow_tracking_uri, MLFLOW_ALLOW_FILE_STORE="true")
                              if args.mlflow_tracking_uri else ENV)
                t_ml = median_of(max(3, args.repeat // 2), lambda points=points, mwork=mwork, env=mlflow_env: timed(
                    [mlflow_py, mlflow_script, str(points)], cwd=mwork, env=env))
                store_name = args.mlflow_tracking_uri or "default store"
                rows.append((f"tracked run, {points} points (s)", t_run, t_ml, f"MLflow, {store_name}",
                             t_ml / t_run, f">= {target}x faster"))
            else:
                rows.append((f"tracked run, {points} points (s)", t_run, None, "", None, ""))

        million = os.path.join(tmp, "million.py")
        with open(million, "w") as fp:
            fp.write(MILLION)
        results = []
        for _ in range(max(3, args.repeat // 2)):
            out = subprocess.run([PY, million, os.path.join(tempfile.mkdtemp(dir=tmp), "db")], env=ENV,
                                 check=True, capture_output=True, text=True).stdout.split()
            results.append([float(x) for x in out])
        log_s = statistics.median(r[0] for r in results)
        commit_s = statistics.median(r[1] for r in results)
        peak = statistics.median(r[2] for r in results)
        rows.append(("1M log_metric + commit (s)", log_s + commit_s, None, f"log {log_s:.2f} + commit {commit_s:.2f}",
                     None, "<= 3 s"))
        rows.append(("1M log_metric peak RSS (MB)", peak, None, "", None, "<= 300 MB"))
        rows.append(("log_metric per call (us)", log_s, None, "", None, ""))

        store = os.path.join(tmp, "store10k")
        subprocess.run([PY, "-c", FILL_STORE, store, "10000"], check=True, env=ENV)
        list_cmd = [mlrun_script, "get", "runs", "--db", store, "--label", "team=a", "--limit", "0"]
        t_list = median_of(args.repeat, lambda: timed(list_cmd))
        count = subprocess.run(list_cmd[:-2] + ["--limit", "0", "-o", "json"], capture_output=True, text=True,
                               env=ENV, check=True).stdout
        rows.append((f"get runs, 10k stored, label filter ({len(json.loads(count))} rows) (s)", t_list, None, "",
                     None, "<= 0.5 s"))

    print()
    print(f"{'measure':<48} {'mlrun':>10} {'baseline':>10}  {'ratio':>7}  {'baseline is':<24} target")
    for name, ours, base, base_name, ratio, target in rows:
        if name.startswith("log_metric per call"):
            print(f"{name:<48} {ours:>10.3f}")
            continue
        base_s = f"{base:10.3f}" if base is not None else " " * 10
        ratio_s = f"{ratio:6.2f}x" if ratio is not None else " " * 7
        print(f"{name:<48} {ours:>10.3f} {base_s}  {ratio_s}  {base_name:<24} {target}")


if __name__ == "__main__":
    main()
