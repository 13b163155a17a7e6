"""Task templates (``RunTemplate``, ``new_task``, ``NewRun``) and run objects (``RunObject``): unit tests."""
from __future__ import annotations

import pytest
import yaml

import mlrun
from mlrun.errors import InvalidInputError
from mlrun.model import RunRecord
from mlrun.runobject import RunObject
from mlrun.templates import NewRun, RunTemplate, new_task


def test_a_template_chains_and_reads_as_attributes():
    task = RunTemplate("train", project="p").with_params(p1=5).with_params(p2="x") \
        .with_input("data", "s3://bucket/data.csv").with_input("data", "s3://bucket/v2.csv") \
        .with_secrets("file", "secrets.txt").with_hyper_params({"lr": [0.1, 0.2]}, selector="max.accuracy") \
        .set_label("team", "ml").set_label("n", 3)
    assert task.metadata.name == "train" and task.metadata.project == "p"
    assert task.metadata.labels == {"team": "ml", "n": "3"}
    assert task.spec.parameters == {"p1": 5, "p2": "x"}
    assert task.spec.input_objects == [{"key": "data", "path": "s3://bucket/v2.csv"}]
    assert task.spec.inputs == {"data": "s3://bucket/v2.csv"}
    assert task.spec.hyperparams == {"lr": [0.1, 0.2]} and task.spec.selector == "max.accuracy"
    assert task.spec.secret_sources == [{"kind": "file", "source": "secrets.txt"}]


def test_to_dict_is_a_record_mapping_the_record_loader_takes():
    task = new_task("t", params={"p1": 1}, inputs={"in": "a.csv"}, outputs={"model": "s3://b/m.pkl"},
                    artifact_path="/out", param_file="p.csv", selector="min.loss", handler="train",
                    labels={"k": "v"}, hyper_param_options={"strategy": "list", "parallel_runs": 2})
    record = RunRecord.from_dict(task.to_dict())
    assert record.spec.default_output_path == "/out"
    assert record.spec.hyper_options == {"strategy": "list", "parallel": 2, "param_file": "p.csv",
                                         "selector": "min.loss"}
    assert record.spec.output_artifacts == [{"key": "model", "path": "s3://b/m.pkl"}]
    assert record.spec.runtime["handler"] == "train" and record.metadata.labels == {"k": "v"}
    assert yaml.safe_load(task.to_yaml()) == task.to_dict()


def test_inline_secret_values_stay_out_of_the_mapping_and_the_yaml():
    task = new_task("t").with_secrets("inline", {"TOKEN": "tok-4411"}).with_secrets("env", "HOME")
    assert "tok-4411" not in task.to_yaml() and "tok-4411" not in repr(task.to_dict())
    assert task.spec.secret_sources == [{"kind": "inline", "source": ["TOKEN"]}, {"kind": "env", "source": "HOME"}]
    assert task.secret_pairs() == [("inline", {"TOKEN": "tok-4411"}), ("env", "HOME")]
    run = mlrun.run_start(task, handler=lambda ctx: {"seen": ctx.get_secret("TOKEN") == "tok-4411"})
    assert run.output("seen") is True and "tok-4411" not in run.to_yaml()


def test_copy_is_independent_and_base_starts_from_a_copy():
    base = new_task("base", params={"p1": 1})
    other = base.copy().with_params(p1=2)
    derived = new_task(base=base, params={"p2": 3})
    assert base.spec.parameters == {"p1": 1}
    assert other.spec.parameters == {"p1": 2} and derived.spec.parameters == {"p1": 1, "p2": 3}


def test_new_run_is_the_2019_name_and_takes_its_keywords():
    task = NewRun(name="old", params={"p1": 8}, out_path="/tmp/out", handler="my_func",
                  inputs={"infile.txt": ""}, in_path="s3://bucket/in", secrets=["file=secrets.txt"])
    assert task.spec.output_path == "/tmp/out" and task.spec.handler == "my_func"
    assert task.spec.inputs == {"infile.txt": "s3://bucket/in/infile.txt"}
    assert task.spec.secret_sources == [{"kind": "file", "source": "secrets.txt"}]
    assert mlrun.NewRun is NewRun and mlrun.new_task is new_task


@pytest.mark.parametrize("call, message", [
    (lambda: new_task(inputs="a.csv"), "inputs must be a mapping of keys to paths, got str"),
    (lambda: new_task(secrets=["file"]), "secret source 'file' must be KIND=SOURCE"),
    (lambda: RunTemplate().with_secrets("inline", "A=1"), "inline secrets must be a mapping, got str"),
])
def test_bad_template_input_is_refused_by_name(call, message):
    with pytest.raises(InvalidInputError, match=message):
        call()


def finished_record() -> RunRecord:
    return RunRecord.from_dict({
        "metadata": {"name": "r<b>", "uid": "u1", "labels": {"owner": "me"}},
        "spec": {"parameters": {"p1": 5}},
        "status": {"state": "completed", "outputs": {"accuracy": 0.9, "model.txt": "result wins"},
                   "output_artifacts": [{"key": "model.txt", "target_path": "/out/model.txt", "sha256": "ab"},
                                        {"key": "plot.html", "target_path": "/out/plot.html"}],
                   "iterations": [["iteration", "state"], [1, "completed"]]}})


def test_a_run_object_reads_as_attributes_and_as_the_record_mapping():
    run = RunObject(finished_record())
    assert run.uid == "u1" and run.state() == "completed" and run.status.state == "completed"
    assert run.status.outputs == {"accuracy": 0.9, "model.txt": "result wins"}
    assert run.status.results == run.status.outputs and run.status.artifacts == run.status.output_artifacts
    assert run.status.iterations == [["iteration", "state"], [1, "completed"]] and run.status.error == ""
    assert run["status"]["outputs"]["accuracy"] == 0.9 and run["metadata"]["name"] == "r<b>"
    assert run.outputs == {"accuracy": 0.9, "model.txt": "result wins", "plot.html": "/out/plot.html"}
    assert run.output("plot.html") == "/out/plot.html" and run.output("nope") is None
    assert run.artifact("model.txt")["sha256"] == "ab" and run.artifact("nope") is None
    assert run.to_dict() == finished_record().to_dict() and yaml.safe_load(run.to_yaml()) == run.to_dict()
    with pytest.raises(AttributeError, match="no field 'nope'"):
        _ = run.status.nope


def test_a_run_object_shows_itself_readably_and_escapes_its_html():
    run = RunObject(finished_record())
    assert repr(run) == ("<RunObject r<b> uid=u1 iteration=0 state=completed outputs: accuracy=0.9, "
                         "model.txt='result wins'>")
    html = run._repr_html_()
    assert "r&lt;b&gt;" in html and "<b>" not in html.replace("<table", "").replace("<tr>", "")
    assert "accuracy=0.9" in html and "p1=5" in html
