"""Kubeflow Pipelines benchmarks: what ``--kfp`` adds to a run, and that kfp stays out of the way.

    python bench/bench_kfp.py               # medians of 7 fresh processes per figure
    python bench/bench_kfp.py --repeat 15

Measured side by side (interleaved, so machine noise hits both sides alike):
- ``import mlrun.kfp`` against ``import mlrun`` (and ``import kfp``, what the step builder loads);
- ``mlrun run --kfp`` against the same ``mlrun run`` without it (the seed's example, whole processes);
- writing the KFP files for a record with 200 results and 20 artifacts, in-process (atomic writes:
  temp file, then rename), against plain ``open().write()`` of the same 222 files with the same content;
- the two-step pipeline (``deploy/pipeline_two_steps.py --local``: train, then validate, executed by
  KFP's local runner in this interpreter) against the same two handlers run with ``mlrun run`` back to
  back (the second reading the first's artifact): KFP's overhead, as a ratio.  ``--venv`` adds the
  same pipeline with a fresh virtual environment per task (pip installs this project's wheel each time).
Byte-code caching is on (as for an installed package), whatever PYTHONDONTWRITEBYTECODE says.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = sys.executable
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

WRITE_FILES = """
import json, os, sys, time
from mlrun.kfp import KfpOutputs, kfp_metrics, kfp_ui_metadata
from mlrun.kfp.outputs import output_values
from mlrun.model import RunRecord
record = RunRecord()
record.metadata.name, record.metadata.uid = "bench", "0" * 32
record.spec.parameters = {f"p{i}": i for i in range(20)}
record.status.state = "completed"
record.status.outputs = {f"result.{i}": i * 0.5 if i % 2 else f"text {i}" for i in range(200)}
record.status.output_artifacts = [{"key": f"a{i}.txt", "target_path": f"/data/a{i}.txt", "size": 10, "format": "txt"}
                                  for i in range(20)]
kfp = KfpOutputs(sys.argv[1] + "/kfp", sys.argv[1] + "/out")
plain = sys.argv[1] + "/plain"
os.makedirs(plain, exist_ok=True)
files = {os.path.join(plain, k): v for k, v in output_values(record).items()}
files[plain + "/metrics.json"] = json.dumps(kfp_metrics(record.outputs))
files[plain + "/ui.json"] = json.dumps(kfp_ui_metadata(record))
rounds = int(sys.argv[2])
t0 = time.perf_counter()
for _ in range(rounds):
    assert kfp.write(record) == ""
t1 = time.perf_counter()
for _ in range(rounds):
    for path, text in files.items():
        with open(path, "w") as fp:
            fp.write(text)
t2 = time.perf_counter()
print((t1 - t0) / rounds, (t2 - t1) / rounds)
"""


def timed(cmd: list[str], cwd: str | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=ENV, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def side_by_side(repeat: int, *measures) -> list[float]:
    """The median of each measure over ``repeat`` interleaved rounds, after one warm-up round."""
    for measure in measures:
        measure()
    rounds = [[measure() for measure in measures] for _ in range(repeat)]
    return [statistics.median(r[i] for r in rounds) for i in range(len(measures))]


def pipeline_rows(repeat: int, venv: bool) -> list[tuple]:
    handlers = os.path.join(ROOT, "examples", "train_validate.py")
    pipeline = [PY, os.path.join(ROOT, "deploy", "pipeline_two_steps.py"), "--local", "--lr", "0.2"]
    with tempfile.TemporaryDirectory() as tmp:
        env_db = ["--db", os.path.join(tmp, "db")]
        env = {**ENV, "MLRUN_DBPATH": os.path.join(tmp, "db")}
        quiet = {"cwd": tmp, "env": env, "check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}

        def local_pipeline(*extra: str) -> float:
            start = time.perf_counter()
            subprocess.run(pipeline + ["--pipeline-root", os.path.join(tmp, "kfp"), *extra], **quiet)
            return time.perf_counter() - start

        def back_to_back() -> float:
            start = time.perf_counter()
            subprocess.run([PY, "-m", "mlrun", "run", "-q", *env_db, "--handler", "train", "-p", "lr=0.2",
                            "--out-path", os.path.join(tmp, "train"), handlers], **quiet)
            subprocess.run([PY, "-m", "mlrun", "run", "-q", *env_db, "--handler", "validate", "-p",
                            "min_accuracy=0.68", "-i", f"model.txt={os.path.join(tmp, 'train', 'model.txt')}",
                            handlers], **quiet)
            return time.perf_counter() - start

        t_pipeline, t_cli = side_by_side(repeat, local_pipeline, back_to_back)
        rows = [("two-step pipeline, kfp.local in place (s)", t_pipeline, t_cli, "2 x mlrun run, back to back")]
        if venv:
            t_venv = statistics.median(local_pipeline("--venv") for _ in range(max(1, repeat)))
            rows.append(("two-step pipeline, a venv per task (s)", t_venv, t_cli, "2 x mlrun run, back to back"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--pipeline-repeat", type=int, default=3, help="rounds for the pipeline figures")
    parser.add_argument("--venv", action="store_true", help="also the pipeline with a virtual environment per task")
    args = parser.parse_args()
    rows = []

    t_kfp_pkg, t_mlrun, t_kfp_sdk = side_by_side(args.repeat, lambda: timed([PY, "-c", "import mlrun.kfp"]),
                                                 lambda: timed([PY, "-c", "import mlrun"]),
                                                 lambda: timed([PY, "-c", "import kfp.dsl, kfp.compiler"]))
    rows.append(("import mlrun.kfp (s)", t_kfp_pkg, t_mlrun, "import mlrun"))
    rows.append(("import mlrun.kfp vs the kfp SDK (s)", t_kfp_pkg, t_kfp_sdk, "import kfp (dsl, compiler)"))

    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(os.path.join(ROOT, "examples", "example1.py"), tmp)
        with open(os.path.join(tmp, "infile.txt"), "w") as fp:
            fp.write("hello\n")
        base = [PY, "-m", "mlrun", "run", "-q", "--db", os.path.join(tmp, "db"), "-p", "p1=5"]
        kfp = ["--kfp", "--kfp-dir", os.path.join(tmp, "kfp"), "--kfp-outputs-dir", os.path.join(tmp, "out")]
        t_run_kfp, t_run = side_by_side(args.repeat, lambda: timed(base + kfp + ["example1.py"], cwd=tmp),
                                        lambda: timed(base + ["example1.py"], cwd=tmp))
        rows.append(("mlrun run --kfp example1.py (s)", t_run_kfp, t_run, "mlrun run example1.py"))

        samples = [subprocess.run([PY, "-c", WRITE_FILES, tmp, "50"], env=ENV, check=True, capture_output=True,
                                  text=True).stdout.split() for _ in range(max(3, args.repeat // 2))]
        t_write = statistics.median(float(s[0]) for s in samples)
        t_yaml = statistics.median(float(s[1]) for s in samples)
        rows.append(("KFP files, 200 results + 20 artifacts (ms)", t_write * 1000, t_yaml * 1000,
                     "plain writes, same 222 files"))

    rows += pipeline_rows(args.pipeline_repeat, args.venv)

    print()
    print(f"{'measure':<46} {'mlrun':>9} {'baseline':>9}  {'ratio':>7}  baseline is")
    for name, ours, baseline, baseline_name in rows:
        print(f"{name:<46} {ours:>9.3f} {baseline:>9.3f}  {ours / baseline:>6.2f}x  {baseline_name}")


if __name__ == "__main__":
    main()
