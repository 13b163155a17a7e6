"""Pipelines executed by Kubeflow Pipelines' own local runner (``kfp.local.SubprocessRunner``, no Docker).

KFP's executor runs each step as a Lightweight Python Component (``mlrun_component``), passes
parameters and artifacts between steps and hands back the outputs checked here; each step records
its run in the store, labelled with the pipeline run's id.
"""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, SEED_EXAMPLE, run_python

from mlrun.model import RunRecord
from mlrun.rundb import get_run_db


def load_deploy(name: str):
    spec = importlib.util.spec_from_file_location(f"deploy_{name}", os.path.join(ROOT, "deploy", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def seed_dir(tmp_path):
    """The working directory of the pipeline's tasks: the seed's infile.txt, as the seed's example expects."""
    (tmp_path / "infile.txt").write_text("hello from infile.txt\n")
    (tmp_path / "records").mkdir()
    return tmp_path


def pipeline_runs(dbpath: str) -> list[dict]:
    return get_run_db(dbpath).list_runs(iterations=True)


def kfp_run_id(runs: list[dict]) -> str:
    """The one workflow label all of a pipeline's runs carry: KFP's run id (8 digits under the local runner)."""
    ids = {run["labels"].get("workflow") for run in runs}
    assert len(ids) == 1, ids
    run_id = ids.pop()
    assert re.fullmatch(r"\d{1,8}", run_id), run_id  # placeholder_utils.make_random_id, not "{{$.pipeline_job_uuid}}"
    return run_id


def test_the_seed_pipeline_in_fresh_virtual_environments_installs_this_project(seed_dir, isolated_store):
    """use_venv=True: KFP makes a virtual environment for the task and runs packages_to_install there.

    The default requirement is a wheel of this checkout: were it the index's unrelated ``mlrun``,
    the task could not import ``mlrun.kfp.component`` and would fail.
    """
    pipeline = load_deploy("pipeline")
    run = pipeline.run_locally(pipeline.component_pipeline, {"p1": 7, "save_to": str(seed_dir / "records")},
                               str(seed_dir / "kfp"), use_venv=True)
    check_seed_outputs(run.outputs, seed_dir, isolated_store)


def test_the_seed_pipeline_in_this_interpreter_installs_nothing(seed_dir, isolated_store):
    """``python deploy/pipeline.py --local``: use_venv=False, the tasks run in this interpreter.

    Installing this project's wheel there would replace the (editable) install under test.
    """
    installed = installed_as()
    result = subprocess.run([sys.executable, os.path.join(ROOT, "deploy", "pipeline.py"), "--local", "-p1", "7",
                             "--save-to", str(seed_dir / "records"), "--pipeline-root", str(seed_dir / "kfp")],
                            cwd=seed_dir, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert lines[-3] == "accuracy: 14"
    artifact = lines[-2].removeprefix("test.txt: ")
    assert artifact.startswith(str(seed_dir / "kfp")) and Path(artifact).read_bytes() == b"abc is 123"
    assert "'accuracy': 14.0" in lines[-1]
    assert installed_as() == installed
    runs = pipeline_runs(isolated_store)
    assert len(runs) == 1 and runs[0]["outputs"] == {"accuracy": 14}
    kfp_run_id(runs)


def installed_as() -> list:
    """How this interpreter has mlrun installed: its dist-info folders, their install record and times."""
    import glob
    import sysconfig

    found = []
    for folder in sorted(glob.glob(os.path.join(sysconfig.get_paths()["purelib"], "mlrun_lite-*.dist-info"))):
        direct_url = os.path.join(folder, "direct_url.json")
        found.append((folder, os.stat(folder).st_mtime_ns,
                      Path(direct_url).read_text() if os.path.exists(direct_url) else None))
    return found


def check_seed_outputs(outputs, seed_dir, dbpath):
    # what KFP hands back: the typed result, the artifact's bytes, the metrics artifact's values
    assert outputs["accuracy"] == 14 and isinstance(outputs["accuracy"], int)
    assert Path(outputs["test_txt"].path).read_bytes() == b"abc is 123"
    assert outputs["test_txt"].path.startswith(str(seed_dir / "kfp"))
    assert outputs["test_txt"].metadata["mlrun_key"] == "test.txt"
    metrics = dict(outputs["metrics"].metadata)
    runs = pipeline_runs(dbpath)
    assert len(runs) == 1
    assert metrics == {"accuracy": 14.0, "mlrun_run_uid": runs[0]["uid"]}
    # the run: recorded in the store and saved where the pipeline said, labelled with KFP's run id
    run_id = kfp_run_id(runs)
    saved = RunRecord.from_text((seed_dir / "records" / f"{runs[0]['uid']}.yaml").read_text())
    assert saved.state == "completed" and saved.outputs == {"accuracy": 14}
    assert saved.spec.parameters["p1"] == 7 and saved.metadata.labels["workflow"] == run_id
    assert outputs["test_txt"].metadata["target_path"] == saved.status.output_artifacts[0]["target_path"]


def test_two_steps_a_result_and_an_artifact_feed_the_next_step(tmp_path, isolated_store, monkeypatch):
    from kfp.local import placeholder_utils

    made = []  # the ids KFP's local runner draws: the pipeline run's first, then one per task
    draw = placeholder_utils.make_random_id
    monkeypatch.setattr(placeholder_utils, "make_random_id", lambda: made.append(draw()) or made[-1])
    two_steps = load_deploy("pipeline_two_steps")
    first = two_steps.run_locally(two_steps.two_steps_pipeline, {"lr": 0.2, "epochs": 2}, str(tmp_path / "kfp"))
    outputs = first.outputs
    assert outputs["accuracy"] == pytest.approx(0.68)  # 1 - 0.8 ** 2 / 2
    assert Path(outputs["model_txt"].path).read_bytes() == b"weights lr=0.2 epochs=2\n"
    assert {k: v for k, v in outputs["train_metrics"].metadata.items() if k != "mlrun_run_uid"} == {
        "accuracy": pytest.approx(0.68), "epochs": 2.0}
    # validate got train's accuracy as its parameter and train's artifact, through KFP, as its input
    assert outputs["validation_accuracy"] == pytest.approx(0.678)
    assert outputs["model_summary"] == "weights lr=0.2 epochs=2" and outputs["passed"] is True

    runs = pipeline_runs(isolated_store)
    assert len(runs) == 2
    assert kfp_run_id(runs) == made[0] and len(made) == 3
    train, validate = sorted((get_run_db(isolated_store).read_run_data(r["uid"]) for r in runs),
                             key=lambda r: r["spec"]["runtime"]["handler"] != "train")
    assert train["spec"]["runtime"]["handler"] == "train" and validate["spec"]["runtime"]["handler"] == "validate"
    assert validate["spec"]["parameters"] == {"min_accuracy": pytest.approx(0.68)}
    assert validate["spec"]["input_objects"] == [{"key": "model.txt", "path": outputs["model_txt"].path}]
    assert outputs["train_metrics"].metadata["mlrun_run_uid"] == train["metadata"]["uid"]

    # a second run of the pipeline is a new pair of runs with a run id of its own
    two_steps.run_locally(two_steps.two_steps_pipeline, {"lr": 0.2, "epochs": 2}, str(tmp_path / "kfp"))
    ids = [run["labels"]["workflow"] for run in pipeline_runs(isolated_store)]
    assert len(ids) == 4 and len(set(ids)) == 2 and sorted(ids.count(i) for i in set(ids)) == [2, 2]


def test_a_sweep_is_one_step_with_the_best_result_and_the_iterations_table(tmp_path, isolated_store):
    two_steps = load_deploy("pipeline_two_steps")
    outputs = two_steps.run_locally(two_steps.sweep_pipeline, {"epochs": 3}, str(tmp_path / "kfp")).outputs
    assert outputs["best_iteration"] == 2 and outputs["accuracy"] == pytest.approx(0.8285)  # lr=0.3
    table = Path(outputs["iteration_results"].path).read_text().splitlines()
    assert table[0].split(",")[:3] == ["state", "iter", "param.lr"] and len(table) == 4
    page = Path(outputs["iterations"].path).read_text()
    assert page.count("<tr>") == 4 and "<td>0.3</td><td>3</td><td>0.8285</td>" in page  # lr, epochs (fixed), acc
    assert outputs["validation_accuracy"] == pytest.approx(0.8255)  # validated the best model (lr=0.3)

    runs = pipeline_runs(isolated_store)
    assert sorted(r.get("iteration", 0) for r in runs) == [0, 0, 1, 2, 3]  # parent, 3 iterations, validate
    kfp_run_id(runs)


def test_a_failing_step_fails_the_pipeline_and_its_run_says_why(tmp_path, isolated_store, capsys):
    from kfp import dsl, local

    from mlrun.kfp import mlrun_component

    handler = tmp_path / "failing.py"
    handler.write_text("def train(ctx):\n    ctx.log_output('accuracy', 'high')\n\n"
                       "def broken(ctx):\n    raise ValueError('no data in the bucket')\n")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp"))

    @dsl.pipeline(name="failing")
    def failing():
        mlrun_component(str(handler), handler="broken", outputs=["accuracy"])

    with pytest.raises(RuntimeError, match="failing"):
        failing()
    [failed] = pipeline_runs(isolated_store)
    assert failed["state"] == "error" and "no data in the bucket" in failed["error"]
    said = capsys.readouterr().out  # the local runner prints what the task printed
    assert f"Error: run {failed['uid']} failed: " in said and "no data in the bucket" in said

    @dsl.pipeline(name="mistyped")
    def mistyped():
        mlrun_component(str(handler), handler="train", outputs={"accuracy": float})

    with pytest.raises(RuntimeError, match="mistyped"):
        mistyped()
    # the run itself went well, but its result could not be handed over: recorded as the reason
    mistyped_run = next(run for run in pipeline_runs(isolated_store) if run["uid"] != failed["uid"])
    reason = "result 'accuracy' is 'high', not float: declare its type in outputs={'accuracy': ...}"
    assert mistyped_run["state"] == "error" and mistyped_run["error"] == reason
    assert f"Error: run {mistyped_run['uid']} failed: {reason}" in capsys.readouterr().out


def test_the_default_requirement_is_never_the_index_package(monkeypatch, tmp_path):
    from kfp import compiler, dsl, local

    from mlrun.kfp import component

    monkeypatch.setenv("MLRUN_KFP_WHEEL_CACHE", str(tmp_path / "wheels"))
    wheel = component.local_wheel()
    assert component.local_wheel() == wheel  # cached by content
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "mlrun/kfp/component.py" in names and not [n for n in names if n.startswith(("tests/", "deploy/"))]

    def compiled() -> str:
        @dsl.pipeline(name="req")  # KFP builds the steps here, when the pipeline is defined
        def req():
            component.mlrun_component(SEED_EXAMPLE, outputs=["accuracy"])

        compiler.Compiler().compile(req, str(tmp_path / "p.yaml"))
        return json.dumps(yaml.safe_load((tmp_path / "p.yaml").read_text()))  # as one line: the YAML folds long ones

    local.init(runner=local.SubprocessRunner(use_venv=True), pipeline_root=str(tmp_path / "kfp"))
    text = compiled()
    assert f"'mlrun-lite @ file://{wheel}'" in text and "'mlrun'" not in text

    monkeypatch.setenv("MLRUN_KFP_REQUIREMENT", "mlrun-lite @ https://wheels.example/mlrun_lite-0.1.0-py3-none-any.whl")
    assert "'mlrun-lite @ https://wheels.example/mlrun_lite-0.1.0-py3-none-any.whl'" in compiled()

    monkeypatch.delenv("MLRUN_KFP_REQUIREMENT")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp"))
    assert "mlrun-lite @" not in compiled()  # the task runs in this interpreter, which has this mlrun
    shutil.rmtree(tmp_path / "wheels")


def test_offline_the_wheel_is_packed_directly_and_installs(monkeypatch, tmp_path):
    """Without the package index pip cannot fetch the build backend: the wheel is packed directly."""
    import zipfile

    from mlrun.kfp import component

    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    wheel = component.local_wheel(str(tmp_path / "wheels"))
    with zipfile.ZipFile(wheel) as packed:
        assert "Generator: mlrun" in packed.read("mlrun_lite-0.1.0.dist-info/WHEEL").decode()
        assert "Requires-Dist: pyyaml" in packed.read("mlrun_lite-0.1.0.dist-info/METADATA").decode()
    target = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                                "--target", str(target), wheel], capture_output=True, text=True, timeout=120)
    assert installed.returncode == 0, installed.stderr
    code = "import mlrun, mlrun.kfp.component; print(mlrun.__file__)"
    used = run_python(code, cwd=tmp_path, timeout=60, env={**os.environ, "PYTHONPATH": str(target)})
    assert used.returncode == 0 and used.stdout.strip() == str(target / "mlrun" / "__init__.py")
    assert (target / "bin" / "mlrun").exists() or (target / "mlrun_lite-0.1.0.dist-info" / "entry_points.txt").exists()


def test_secrets_reach_the_step_by_source_and_their_values_stay_out_of_the_pipeline(tmp_path, isolated_store,
                                                                                    monkeypatch, capsys):
    from kfp import dsl, local

    from mlrun.kfp import mlrun_component

    token = "tok-3f9a0c7d2b"
    monkeypatch.setenv("MY_TOKEN", token)
    handler = tmp_path / "uses_token.py"
    handler.write_text("def main(ctx):\n    ctx.log_output('token_length', len(ctx.get_secret('MY_TOKEN')))\n")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp"))

    @dsl.pipeline(name="with a secret")
    def with_secret() -> int:
        return mlrun_component(str(handler), handler="main", secrets=[("env", "MY_TOKEN")],
                               outputs={"token_length": int}).outputs["token_length"]

    assert with_secret().output == len(token)
    [run] = pipeline_runs(isolated_store)
    record = get_run_db(isolated_store).read_run_data(run["uid"])
    assert record["spec"]["secret_sources"] == [{"kind": "env", "source": "MY_TOKEN"}]
    assert token not in capsys.readouterr().out and token not in str(record)
    for folder, _dirs, files in os.walk(tmp_path / "kfp"):
        for name in files:
            assert token not in Path(os.path.join(folder, name)).read_text(errors="replace"), name
