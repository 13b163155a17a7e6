"""A two-step workflow on engine local and on kfp (KFP's local runner): the same results and artifact hashes, each
step a recorded run labelled with the workflow's id, the workflow itself recorded and listed."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from helpers import mlrun_cli
from project_assets import write_project_files

import mlrun
from mlrun.rundb import get_run_db
from mlrun.runtimes.utils import RunError


@pytest.fixture
def project(tmp_path):
    write_project_files(tmp_path / "proj")
    project = mlrun.new_project("flows", str(tmp_path / "proj"), params={"epochs": 2})
    project.artifact_path = "artifacts"
    project.set_function("handlers.py", name="train", handler="train")
    project.set_function("handlers.py", name="validate", handler="validate")
    project.set_workflow("main", "workflow.py")
    project.save()
    return project


def sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def step_view(db, uid: str) -> dict:
    """What a step produced: its results and the hashes of its artifacts' bytes (read from where they went)."""
    data = db.read_run_data(uid)
    return {"results": data["status"]["outputs"],
            "artifacts": {a["key"]: sha256(a["target_path"]) for a in data["status"]["output_artifacts"]}}


def test_engine_local_and_kfp_give_the_same_results_and_artifact_hashes(project, isolated_store):
    db = get_run_db(isolated_store)
    local = project.run("main", arguments={"lr": 0.2}, engine="local")
    assert local.state == "completed" and len(local.steps) == 2
    train, validate = local.steps
    assert train.output("accuracy") == pytest.approx(1 - 0.8 ** 3 / 2)  # the pipeline's epochs=3 wins
    # the train step's output reached the next step as its parameter and its input
    assert validate.spec.parameters["min_accuracy"] == train.output("accuracy")
    assert validate.spec.input_objects == [{"key": "model.txt", "path": train.output("model.txt")}]
    assert train.artifact("model.txt")["target_path"].startswith(str(Path(project.context) / "artifacts"))

    kfp = project.run("main", arguments={"lr": 0.2}, engine="kfp")
    assert kfp.state == "completed" and [s["name"] for s in kfp.steps] == ["train", "validate"]
    local_views = [step_view(db, s.metadata.uid) for s in local.steps]
    kfp_views = [step_view(db, s["uid"]) for s in kfp.steps]
    assert kfp_views == local_views
    assert local_views[1]["results"]["validation_accuracy"] == pytest.approx(train.output("accuracy") - 0.002)
    assert set(local_views[1]["artifacts"]) == {"report.txt"}

    for run in (local, kfp):
        steps = db.list_runs(labels={"workflow": run.run_id})
        assert {s["project"] for s in steps} == {"flows"} and len(steps) == 3  # two steps and the workflow
        record = db.read_run_data(run.run_id)
        assert record["metadata"]["labels"] == {"kind": "workflow", "workflow": run.run_id, "engine": run.engine}
        assert record["status"]["state"] == "completed" and record["spec"]["parameters"] == {"lr": 0.2}
        assert record["status"]["start_time"] <= record["status"]["last_update"]
        assert [s["state"] for s in record["status"]["outputs"]["steps"]] == ["completed", "completed"]
    workflows = [r for r in project.list_runs(labels={"kind": "workflow"})]
    assert sorted(r["uid"] for r in workflows) == sorted([local.run_id, kfp.run_id])
    assert len(project.list_runs()) == 6

    listed = mlrun_cli("get", "runs", "--label", f"workflow={local.run_id}")
    assert listed.returncode == 0, listed.stderr
    assert train.metadata.uid in listed.stdout and validate.metadata.uid in listed.stdout
    assert kfp.steps[0]["uid"] not in listed.stdout


def test_a_failing_step_fails_the_workflow_and_its_record_says_why(project, isolated_store):
    Path(project.context, "broken.py").write_text(
        "import mlrun\n\n\ndef pipeline():\n    p = mlrun.get_current_project()\n"
        "    p.run_function('train', params={'epochs': 1})\n"
        "    p.run_function('validate', inputs={'model.txt': '/nonexistent/model.txt'})\n"
        "    p.run_function('train', params={'epochs': 9})\n")
    project.set_workflow("broken", "broken.py")
    with pytest.raises(RunError, match="workflow broken .* failed") as failed:
        project.run("broken")
    run = failed.value.run
    assert run.state == "error" and len(run.steps) == 1  # the third step never ran
    record = get_run_db(isolated_store).read_run_data(run.run_id)
    assert record["status"]["state"] == "error" and "validate" in record["status"]["error"]
    with pytest.raises(mlrun.errors.InvalidInputError, match="unknown workflow engine 'argo'"):
        project.run("main", engine="argo")


def test_the_cli_runs_a_workflow(project, isolated_store):
    done = mlrun_cli("project", project.context, "-r", "main", "-a", "lr=0.3", "--engine", "local")
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1].split()
    assert last[0] == "workflow" and last[1] == "main" and last[3] == "completed"
    steps = get_run_db(isolated_store).list_runs(labels={"workflow": last[2]})
    assert sorted(s["name"] for s in steps) == ["main", "train", "validate"]
    assert {s["state"] for s in steps} == {"completed"}
    failed = mlrun_cli("project", project.context, "-r", "missing")
    assert failed.returncode == 1 and "no workflow 'missing'" in failed.stderr and "Traceback" not in failed.stderr


def test_kfp_steps_get_the_projects_secrets_file_and_records_stay_masked(project, isolated_store):
    Path(project.context, "secrets.env").write_text("API_TOKEN=tok-kfp-77\n")
    project.set_secrets(file_path=str(Path(project.context, "secrets.env")))
    Path(project.context, "secret_flow.py").write_text(
        "import mlrun\n\n\ndef pipeline(owner: str = 'ops'):\n"
        "    mlrun.get_current_project().run_function('show', params={'owner': owner}, outputs={'seen': str})\n")
    project.set_function("handlers.py", name="show", handler="show_secret", kind="local")
    project.set_workflow("secret", "secret_flow.py")
    runs = [project.run("secret", engine=engine) for engine in ("local", "kfp")]
    db = get_run_db(isolated_store)
    for run in runs:
        [step] = [s for s in db.list_runs(labels={"workflow": run.run_id}) if s["labels"].get("kind") != "workflow"]
        data = db.read_run_data(step["uid"])
        assert data["status"]["outputs"]["owner"] == "ops"
        assert data["status"]["outputs"]["seen"] != "token=None"  # the step did read the secret
        assert "tok-kfp-77" not in str(data) and "tok-kfp-77" not in str(db.read_run_data(run.run_id))
    assert "tok-kfp-77" not in Path(project.context, "project.yaml").read_text()
