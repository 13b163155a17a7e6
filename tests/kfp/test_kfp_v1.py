"""KFP 1.x: the seed's ``dsl.ContainerOp`` pipeline compiled by kfp 1.8 itself, in a virtual environment of its own.

kfp 1.8 and 2.x cannot share an environment, so the test makes one (once: it is kept under
``$MLRUN_TEST_KFP1_VENV``, default ``~/.cache/mlrun-tests/kfp-1.8-pyXY``, and reused while it works).
The compiled Argo workflow's command line is then run here, with its placeholders filled in as Argo
would, to check that ``mlrun run --kfp`` writes the files its ``file_outputs`` name.
"""
import contextlib
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, SEED_EXAMPLE

from mlrun.rundb import get_run_db

KFP1 = "kfp==1.8.*"
VENV = os.environ.get("MLRUN_TEST_KFP1_VENV") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mlrun-tests",
    f"kfp-1.8-py{sys.version_info[0]}{sys.version_info[1]}")
NOT_SERVED = ("No matching distribution found", "Could not find a version that satisfies")


@contextlib.contextmanager
def locked(path: str):
    import fcntl

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fp:
        fcntl.flock(fp, fcntl.LOCK_EX)  # another test run may be making the same environment
        yield


def kfp1_python() -> str:
    """The Python of a virtual environment holding kfp 1.8, made on first use."""
    python = os.path.join(VENV, "bin", "python")
    check = [python, "-c", "import kfp, sys; sys.exit(not kfp.__version__.startswith('1.8.'))"]
    with locked(VENV + ".lock"):
        if os.path.exists(os.path.join(VENV, "ready")) and subprocess.run(check, capture_output=True).returncode == 0:
            return python
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True, capture_output=True, timeout=300)
        result = subprocess.run([python, "-m", "pip", "install", "--quiet", KFP1], capture_output=True, text=True,
                                timeout=900)
        if result.returncode != 0:
            shutil.rmtree(VENV, ignore_errors=True)
            reason = next((line.strip() for line in result.stderr.splitlines() if line.startswith("ERROR")), "")
            if any(text in result.stderr for text in NOT_SERVED):
                pytest.skip(f"the package index serves no {KFP1} for Python {sys.version.split()[0]}: {reason}")
            pytest.fail(f"pip install {KFP1} failed: {reason or result.stderr[-2000:]}")
        assert subprocess.run(check, capture_output=True).returncode == 0
        open(os.path.join(VENV, "ready"), "w").close()
    return python


def test_the_seed_container_op_pipeline_compiles_with_kfp_1_8_and_its_step_runs(tmp_path, isolated_store):
    python = kfp1_python()
    path = tmp_path / "pipeline_v1.yaml"
    env = {k: v for k, v in os.environ.items() if k not in ("MLRUN_IMAGE", "PYTHONPATH")}
    result = subprocess.run([python, os.path.join(ROOT, "deploy", "pipeline_v1.py"), "-o", str(path)],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {path} (kfp 1.8, image mlrun/mlrun)"

    workflow = yaml.safe_load(path.read_text())
    assert workflow["apiVersion"] == "argoproj.io/v1alpha1" and workflow["kind"] == "Workflow"
    assert workflow["metadata"]["labels"]["pipelines.kubeflow.org/kfp_sdk_version"].startswith("1.8.")
    assert {p["name"]: p["value"] for p in workflow["spec"]["arguments"]["parameters"]} == {"save_to": "./", "p1": "5"}
    templates = {t["name"]: t for t in workflow["spec"]["templates"]}
    step = templates["mlrun"]
    assert step["container"]["image"] == "mlrun/mlrun"
    command = step["container"]["command"]
    assert command == ["python", "-m", "mlrun", "run", "--kfp", "-p", "p1={{inputs.parameters.p1}}", "--save-to",
                       "{{inputs.parameters.save_to}}", "--workflow", "{{workflow.uid}}", "example1.py"]
    file_outputs = {a["name"]: a["path"] for a in step["outputs"]["artifacts"]}
    assert file_outputs == {"mlrun-accuracy": "/tmp/accuracy", "mlrun-test_txt": "/tmp/test.txt"}

    # the step as Argo runs it: placeholders filled in, /tmp and / moved under tmp_path
    (tmp_path / "image").mkdir()
    shutil.copy(SEED_EXAMPLE, tmp_path / "image" / "example1.py")
    (tmp_path / "image" / "infile.txt").write_text("hello\n")
    (tmp_path / "records").mkdir()
    argo_uid = str(uuid.uuid4())
    values = {"inputs.parameters.p1": "7", "inputs.parameters.save_to": str(tmp_path / "records"),
              "workflow.uid": argo_uid}
    argv = [re.sub(r"\{\{([\w.]+)\}\}", lambda m: values[m.group(1)], arg) for arg in command]
    run_env = {**os.environ, "MLRUN_KFP_DIR": str(tmp_path / "root"), "MLRUN_KFP_OUTPUTS_DIR": str(tmp_path / "tmp")}
    done = subprocess.run([sys.executable, *argv[1:]], cwd=tmp_path / "image", env=run_env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "tmp" / "accuracy").read_text() == "14"  # what file_outputs reads from /tmp/accuracy
    assert Path((tmp_path / "tmp" / "test.txt").read_text()).read_bytes() == b"abc is 123"
    assert (tmp_path / "root" / "mlpipeline-metrics.json").exists()
    [run] = get_run_db(isolated_store).list_runs()
    assert run["labels"]["workflow"] == argo_uid and run["outputs"] == {"accuracy": 14}
