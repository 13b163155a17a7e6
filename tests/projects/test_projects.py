"""Projects: made, saved, loaded back (folder, archive, git), MLRun 1.x's project file, functions run by name."""
from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml
from helpers import mlrun_cli
from project_assets import PROJECT_1X, write_project_files

import mlrun
from mlrun.errors import InvalidInputError, NotFoundError
from mlrun.rundb import get_run_db


def make_project(folder: Path):
    write_project_files(folder)
    project = mlrun.new_project("demo", str(folder), params={"epochs": 2}, description="a demo")
    project.artifact_path = "artifacts"
    project.set_function("handlers.py", name="train", handler="train")
    project.set_function("handlers.py", name="validate", handler="validate", kind="local")
    project.set_function("notebook.ipynb", name="nb", handler="nb_train")
    project.set_workflow("main", "workflow.py")
    project.save()
    return project


def check_loaded(project, folder: Path) -> None:
    assert project.name == "demo" and project.context == str(folder)
    assert project.params == {"epochs": 2} and project.description == "a demo"
    # MLRun 1.x's nesting of the same fields
    assert project.spec.params == {"epochs": 2} and project.spec.artifact_path == "artifacts"
    assert project.spec.context == str(folder) and project.metadata.name == "demo"
    assert [f.metadata.name for f in project.list_functions()] == ["train", "validate", "nb"]
    assert [w["name"] for w in project.workflows] == ["main"]
    run = project.run_function("train", params={"lr": 0.2})
    assert run.state() == "completed" and run.output("accuracy") == pytest.approx(0.68)  # epochs=2: project param
    assert run.metadata.project == "demo" and run.spec.parameters == {"epochs": 2, "lr": 0.2}
    # under the project's artifact path, named by a store:// URI of the project's
    assert run.artifact("model.txt")["target_path"] == str(folder / "artifacts" / "model.txt")
    assert run.output("model.txt") == f"store://artifacts/demo/model.txt:latest@{run.uid}"
    assert project.run_function("nb", params={"p1": 21}).output("double") == 42
    assert mlrun.get_current_project() is project


def test_a_project_is_saved_in_1x_layout_and_loads_back_from_its_folder(tmp_path):
    folder = tmp_path / "proj"
    make_project(folder)
    data = yaml.safe_load((folder / "project.yaml").read_text())
    assert data["kind"] == "project" and data["metadata"] == {"name": "demo"}
    assert data["spec"]["functions"][0] == {"url": "handlers.py", "name": "train", "handler": "train"}
    assert data["spec"]["workflows"] == [{"name": "main", "path": "workflow.py"}]
    assert data["spec"]["params"] == {"epochs": 2} and data["spec"]["artifact_path"] == "artifacts"
    check_loaded(mlrun.load_project(str(folder)), folder)
    # get_or_create_project finds the file rather than making a new project
    assert mlrun.get_or_create_project("demo", str(folder)).functions == data["spec"]["functions"]
    with pytest.raises(InvalidInputError, match="exists"):
        mlrun.new_project("demo", str(folder))


def test_a_project_loads_from_a_zip_a_tar_and_a_local_git_repository(tmp_path):
    source = tmp_path / "source"
    make_project(source)
    archive = shutil.make_archive(str(tmp_path / "demo"), "zip", source)
    check_loaded(mlrun.load_project(str(tmp_path / "from-zip"), archive), tmp_path / "from-zip")
    tarball = shutil.make_archive(str(tmp_path / "demo"), "gztar", source)
    check_loaded(mlrun.load_project(str(tmp_path / "from-tar"), tarball), tmp_path / "from-tar")

    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "the project"]):
        subprocess.run(["git", *command], cwd=source, env=env, check=True)
    check_loaded(mlrun.load_project(str(tmp_path / "from-git"), str(source)), tmp_path / "from-git")
    assert (tmp_path / "from-git" / ".git").is_dir()
    check_loaded(mlrun.load_project(str(tmp_path / "from-url"), f"file://{source}/.git"), tmp_path / "from-url")


def test_archives_with_members_outside_the_folder_are_refused_before_anything_is_written(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("project.yaml", "kind: project\nmetadata: {name: x}\nspec: {}\n")
        archive.writestr("../escaped.txt", "outside")
    with pytest.raises(InvalidInputError, match="'../escaped.txt'"):
        mlrun.load_project(str(tmp_path / "target"), str(evil))
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "target" / "project.yaml").exists()


@pytest.mark.parametrize("name", ["Demo", "my_project", "-demo", "demo-", "a" * 64, "a.b"])
def test_project_names_follow_dns_1123(tmp_path, name):
    with pytest.raises(InvalidInputError, match="project name"):
        mlrun.new_project(name, str(tmp_path))
    assert not (tmp_path / "project.yaml").exists()


def test_user_project_appends_the_user_name(tmp_path, monkeypatch):
    monkeypatch.setenv("V3IO_USERNAME", "Ada_L")
    project = mlrun.get_or_create_project("tutorial", str(tmp_path), user_project=True)
    assert project.name == "tutorial-ada-l"
    assert yaml.safe_load((tmp_path / "project.yaml").read_text())["metadata"]["name"] == "tutorial-ada-l"


def test_a_project_file_written_by_mlrun_1x_loads_runs_and_keeps_its_fields(tmp_path):
    write_project_files(tmp_path)
    (tmp_path / "project.yaml").write_text(PROJECT_1X)
    project = mlrun.load_project(str(tmp_path))
    assert project.name == "legacy-demo" and project.get_param("lr") == 0.3 and project.get_param("x", 1) == 1
    trainer, checker = project.list_functions()
    assert (trainer.kind, checker.kind, checker.spec.default_handler) == ("job", "job", "validate")
    run = project.run_function("trainer", params={"epochs": 2})
    assert run.output("accuracy") == pytest.approx(1 - 0.7 ** 2 / 2)  # lr=0.3 from the project's params
    workflow = project.run("main", arguments={"lr": 0.2, "epochs": 2})
    assert workflow.state == "completed" and [s.metadata.name for s in workflow.steps] == ["trainer", "checker"]
    assert workflow.steps[1].output("validation_accuracy") == pytest.approx(0.68 - 0.002)
    project.export(str(tmp_path / "again.yaml"))
    again = yaml.safe_load((tmp_path / "again.yaml").read_text())
    assert again["spec"]["default_image"] == "mlrun/mlrun" and again["spec"]["load_source_on_run"] is False
    assert again["spec"]["functions"] == yaml.safe_load(PROJECT_1X)["spec"]["functions"]


def test_run_function_by_name_with_params_and_secrets_masked(tmp_path, isolated_store, capfd):
    write_project_files(tmp_path)
    (tmp_path / "secrets.env").write_text("# the service's token\nAPI_TOKEN=tok-93f1c2\n")
    project = mlrun.new_project("secretive", str(tmp_path), params={"owner": "ops"})
    project.set_secrets(file_path=str(tmp_path / "secrets.env"))
    project.set_function("handlers.py", name="show", handler="show_secret", kind="local")
    project.save()
    run = project.run_function("show")
    assert run.output("owner") == "ops"  # the project's parameter reached the handler
    assert "tok-93f1c2" not in run.output("seen")
    stored = get_run_db(isolated_store).read_run_data(run.metadata.uid)
    assert "tok-93f1c2" not in str(stored) and stored["metadata"]["project"] == "secretive"
    assert "tok-93f1c2" not in capfd.readouterr().out
    assert "tok-93f1c2" not in (tmp_path / "project.yaml").read_text()
    with pytest.raises(InvalidInputError, match="handlers.py, line 2: expected KEY=VALUE"):
        project.set_secrets(file_path=str(tmp_path / "handlers.py"))


def test_functions_objects_yaml_and_bad_input(tmp_path):
    write_project_files(tmp_path)
    project = mlrun.new_project("objects", str(tmp_path))
    fn = mlrun.code_to_function("double", filename=str(tmp_path / "notebook.ipynb"), kind="local", handler="nb_train")
    project.set_function(fn)
    fn.export(str(tmp_path / "double.yaml"))
    project.set_function("double.yaml", name="double-yaml")
    assert project.run_function(fn, params={"p1": 2}).output("double") == 4
    assert project.run_function("double-yaml", params={"p1": 3}).output("double") == 6
    project.save()
    loaded = mlrun.load_project(str(tmp_path))
    assert loaded.run_function("double", params={"p1": 4}).output("double") == 8  # inline spec, code embedded
    with pytest.raises(NotFoundError, match="no function 'missing'"):
        loaded.get_function("missing")
    with pytest.raises(InvalidInputError, match="file not found: nope.py"):
        loaded.set_function("nope.py")
    with pytest.raises(NotFoundError, match="no project.yaml"):
        mlrun.load_project(str(tmp_path / "empty"))


def test_log_and_list_artifacts_and_runs_of_the_project(tmp_path):
    project = mlrun.new_project("arts", str(tmp_path))
    project.artifact_path = "store"
    entry = project.log_artifact("notes.txt", body="hello")
    assert entry["target_path"] == str(tmp_path / "store" / "notes.txt")
    assert project.get_artifact("notes.txt")["sha256"] == entry["sha256"]
    uri = project.get_artifact_uri("notes.txt")
    assert uri == "store://artifacts/arts/notes.txt:latest"
    assert mlrun.get_dataitem(uri).get() == b"hello"  # the URI reads the artifact wherever a URL does
    assert [a["key"] for a in project.list_artifacts()] == ["notes.txt"]
    assert project.artifacts[0]["key"] == "notes.txt"
    assert [r["project"] for r in project.list_runs()] == ["arts"]
    other = mlrun.new_project("other", str(tmp_path / "other"))
    assert list(other.list_runs()) == [] and list(other.list_artifacts()) == []


def test_the_cli_creates_and_loads_a_project(tmp_path):
    made = mlrun_cli("project", str(tmp_path / "p"), "-n", "cli-demo")
    assert made.returncode == 0, made.stderr
    assert yaml.safe_load((tmp_path / "p" / "project.yaml").read_text())["metadata"]["name"] == "cli-demo"
    loaded = mlrun_cli("project", str(tmp_path / "p"))
    assert loaded.returncode == 0 and "project cli-demo" in loaded.stdout
    bad = mlrun_cli("project", str(tmp_path / "q"), "-n", "Bad_Name")
    assert bad.returncode == 2 and "project name 'Bad_Name' is not valid" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_run_function_sweeps_returns_and_with_repo(tmp_path):
    write_project_files(tmp_path)
    (tmp_path / "plain.py").write_text("def add(a, b=1):\n    return a + b, a * b\n")
    project = mlrun.new_project("sweeps", str(tmp_path), init_git=True)
    assert (tmp_path / ".git").is_dir()
    project.set_function("handlers.py", name="train", handler="train")
    sweep = project.run_function("train", hyperparams={"lr": [0.1, 0.3, 0.2]}, selector="max.accuracy",
                                 params={"epochs": 2})
    assert sweep.output("accuracy") == pytest.approx(1 - 0.7 ** 2 / 2) and len(sweep.status.iterations) == 4
    project.set_function("plain.py", name="plain", handler="add", with_repo=True)
    run = project.run_function("plain", params={"a": 3, "b": 4}, returns=["total", "product"])
    assert (run.output("total"), run.output("product")) == (7, 12)
    assert "functionSourceCode" not in str(project.to_dict()) and project.functions[-1]["with_repo"] is True
    project.save()
    (tmp_path / "plain.py").write_text("def add(a, b=1):\n    return a - b, a // b\n")  # the repo's code changed
    again = mlrun.load_project(str(tmp_path)).run_function("plain", params={"a": 9, "b": 4}, returns=["d", "q"])
    assert (again.output("d"), again.output("q")) == (5, 2)


def test_clone_replaces_a_projects_folder_but_never_the_working_directory(tmp_path):
    source = tmp_path / "source"
    make_project(source)
    target = tmp_path / "target"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    mlrun.load_project(str(target), str(source), clone=True)
    assert not (target / "stale.txt").exists() and (target / "project.yaml").is_file()
    with pytest.raises(InvalidInputError, match="holds the working directory"):
        mlrun.load_project(str(tmp_path), str(source), clone=True)
    assert (source / "project.yaml").is_file()


def test_mlrun_run_function_runs_a_function_of_the_current_project_by_name(tmp_path):
    (tmp_path / "trainer.py").write_text("def train(context, p1=1):\n    context.log_result('double', p1 * 2)\n")
    project = mlrun.new_project("byname", str(tmp_path))
    project.set_function("trainer.py", name="trainer", handler="train")
    project.params["p1"] = 4
    assert mlrun.run_function("trainer").output("double") == 8  # the project's parameter
    run = mlrun.run_function("trainer", params={"p1": 5}, local=True)
    assert run.output("double") == 10 and run.metadata.project == "byname"
    # a name the project does not have is a file to run, as before
    with pytest.raises(mlrun.errors.InvalidInputError, match="nothere.py"):
        mlrun.run_function("nothere.py")
