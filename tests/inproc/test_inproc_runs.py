"""In-process runs of Python callables: ``mlrun.run_start`` / ``run_local`` with the handler forms of 2019 code."""
from __future__ import annotations

import json
import os

import pytest
import yaml
from inproc_handlers import legacy, train

import mlrun
from mlrun import get_or_create_ctx, lifecycle
from mlrun.errors import InvalidInputError
from mlrun.rundb import get_run_db

SECRET = "inproc-secret-9d2c"


@pytest.fixture
def infile(tmp_path):
    path = tmp_path / "infile.txt"
    path.write_text("hello in-process\n")
    return str(path)


def stored(run) -> dict:
    return get_run_db().read_run_data(run.uid, run.metadata.iteration)


def test_a_keyword_handler_gets_the_parameters_by_name_and_its_defaults_are_recorded(infile):
    run = mlrun.run_start(handler=train, params={"p1": 8, "unused": "x"}, inputs={"infile.txt": infile})
    assert run.state() == "completed", run.error
    assert run.status.outputs == {"accuracy": 16, "infile_chars": 17, "p2_twice": "a-stringa-string"}
    assert run.spec.parameters == {"p1": 8, "unused": "x", "p2": "a-string"}  # the default that ran is recorded
    assert run.metadata.name == "train" and run.spec.runtime["kind"] == "handler"
    assert run.spec.runtime["command"] == "inproc_handlers:train"
    assert run.status.metrics["loss"] == {"labels": {}, "xvalues": ["1", "2", "3"], "yvalues": [8, 16, 24]}
    artifact = run.artifact("model.txt")
    with open(artifact["target_path"], "rb") as fp:
        assert fp.read() == b"model p1=8 p2=a-string input=hello in-process\n"
    assert stored(run) == run.to_dict()


def test_kwargs_take_every_parameter_and_an_argument_named_as_an_input_gets_its_data_item(infile):
    seen = {}

    def handler(ctx, data, **kwargs):
        seen.update(kwargs, data=data.get(encoding="utf-8"))

    run = mlrun.run_start(handler=handler, params={"a": 1, "b": [2, 3]}, inputs={"data": infile})
    assert run.state() == "completed", run.error
    assert seen == {"a": 1, "b": [2, 3], "data": "hello in-process\n"}


def test_a_spec_handler_makes_the_context_of_this_very_run(tmp_path):
    rundb = str(tmp_path / "other-db")
    run = mlrun.run_start({"spec": {"parameters": {"p1": 8}}}, handler=legacy, rundb=rundb,
                          secrets={"ACCESS_KEY": SECRET})
    assert run.state() == "completed", run.error
    assert run.metadata.name == "legacy"
    # the run's inline secrets reached the context the handler made; its to_yaml() return is no result
    assert run.status.outputs == {"accuracy": 16, "access_key_length": len(SECRET)}
    assert get_run_db(rundb).read_run_data(run.uid) == run.to_dict()
    assert get_run_db().list_runs() == []  # nothing went to the default store


def test_the_seed_example_runs_in_process_with_a_spec_mapping(tmp_path, infile):
    (tmp_path / "secrets.txt").write_text(f"ACCESS_KEY={SECRET}\n")
    (tmp_path / "chart.png").write_bytes(b"\x89PNG-chart")

    def my_func(ctx):
        p1 = ctx.get_param("p1", 1)
        print("file", ctx.get_object("infile.txt").get())
        ctx.log_output("accuracy", p1 * 2)
        ctx.log_output("key", ctx.get_secret("ACCESS_KEY"))
        ctx.log_metric("loss", 7)
        ctx.log_artifact("chart.png")

    spec = {"spec": {"parameters": {"p1": 8}, "secret_sources": [{"kind": "file", "source": "secrets.txt"}],
                     "input_objects": [{"key": "infile.txt", "path": infile}]}}
    run = mlrun.run_start(spec, handler=my_func, name="task2")
    assert run.state() == "completed", run.error
    assert run["status"]["outputs"] == {"accuracy": 16, "key": "******"}
    assert run.metadata.name == "task2" and run.spec.secret_sources == [
        {"kind": "file", "source": str(tmp_path / "secrets.txt")}]
    assert run.artifact("chart.png")["size"] == 10 and SECRET not in run.to_yaml() + json.dumps(stored(run))


def test_the_context_is_current_only_while_the_handler_runs_also_when_it_raises():
    outer = get_or_create_ctx("outer", with_env=False)
    inside = []

    def handler(context):
        inside.append((get_or_create_ctx("whatever") is context, lifecycle.current() is context))
        raise KeyError("boom")

    run = mlrun.run_start(handler=handler)
    assert inside == [(True, True)]
    assert run.state() == "error" and run.error == "KeyError: 'boom'"
    assert lifecycle.current() is outer and get_or_create_ctx("again") is outer


def test_no_context_stays_current_after_a_run_without_one():
    run = mlrun.run_start(handler=train, params={"p1": 2}, inputs={"infile.txt": os.devnull})
    assert run.state() == "completed", run.error
    assert lifecycle.current() is None
    fresh = get_or_create_ctx("next", with_env=False)
    assert fresh.uid != run.uid


def test_an_exception_ends_the_run_in_error_with_its_message_masked_and_no_traceback(capfd):
    def fails(context):
        context.log_output("before", 1)
        raise ValueError(f"bad key {SECRET}")

    run = mlrun.run_start(handler=fails, secrets={"KEY": SECRET})
    assert run.state() == "error"
    assert run.error == "ValueError: bad key ******" and run.status.outputs == {"before": 1}
    assert stored(run)["status"]["error"] == "ValueError: bad key ******"
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and SECRET not in out + err


def test_secrets_are_masked_in_the_record_and_the_store_but_the_code_sees_them():
    seen = []

    def handler(context):
        seen.append(context.get_secret("TOKEN"))
        context.log_output("token", context.get_secret("TOKEN"))
        context.log_output(f"key_{context.get_secret('TOKEN')}", 1)

    run = mlrun.run_start(handler=handler, secrets={"TOKEN": SECRET})
    assert seen == [SECRET]
    assert run.status.outputs == {"token": "******", "key_******": 1}
    assert SECRET not in run.to_yaml() and SECRET not in json.dumps(stored(run))
    assert run.spec.secret_sources == [{"kind": "inline", "source": ["TOKEN"]}]


def test_a_sweep_over_a_dict_picks_the_best_iteration_and_records_each(infile):
    task = mlrun.new_task("sweep", inputs={"infile.txt": infile}).with_hyper_params({"p1": [1, 3, 2]},
                                                                                    selector="max.accuracy")
    run = mlrun.run_start(task, handler=train)
    assert run.state() == "completed", run.error
    assert run.output("best_iteration") == 2 and run.output("accuracy") == 6
    rows = run.status.iterations
    assert [r[rows[0].index("param.p1")] for r in rows[1:]] == [1, 3, 2]
    assert rows[0][:2] == ["state", "iter"] and [r[:2] for r in rows[1:]] == [["completed", n] for n in (1, 2, 3)]
    for n, p1 in ((1, 1), (2, 3), (3, 2)):
        child = get_run_db().read_run_data(run.uid, n)
        assert child["spec"]["parameters"]["p1"] == p1 and child["status"]["outputs"]["accuracy"] == 2 * p1


def test_a_sweep_from_a_csv_param_file_with_a_selector(tmp_path):
    (tmp_path / "params.csv").write_text("p1,p2\n1,a\n5,b\n3,c\n")
    run = mlrun.run_start(handler=lambda context, p1=0, p2="": {"score": p1 * 10, "tag": p2},
                          param_file=str(tmp_path / "params.csv"), selector="min.score")
    assert run.state() == "completed", run.error
    assert run.output("score") == 10 and run.output("tag") == "a"
    assert len(run.status.iterations) == 4 and run.spec.hyper_options["strategy"] == "list"


def test_parallel_iterations_each_see_their_own_context():
    def handler(context, p1=0):
        context.log_output("same", get_or_create_ctx("x") is context)
        context.log_output("iteration", context.iteration)

    run = mlrun.run_start(handler=handler, hyperparams={"p1": list(range(8))},
                          spec=mlrun.new_task(hyper_param_options={"parallel": 4}))
    assert run.state() == "completed", run.error
    children = [get_run_db().read_run_data(run.uid, n)["status"]["outputs"] for n in range(1, 9)]
    assert children == [{"same": True, "iteration": n} for n in range(1, 9)]
    assert lifecycle.current() is None


def test_kfp_true_writes_the_pipeline_files(tmp_path, monkeypatch, infile):
    monkeypatch.setenv("MLRUN_KFP_DIR", str(tmp_path / "kfp"))
    monkeypatch.setenv("MLRUN_KFP_OUTPUTS_DIR", str(tmp_path / "outputs"))
    run = mlrun.run_start(handler=train, params={"p1": 4}, inputs={"infile.txt": infile}, kfp=True)
    assert run.state() == "completed", run.error
    metrics = json.loads((tmp_path / "kfp" / "mlpipeline-metrics.json").read_text())
    assert {"name": "accuracy", "numberValue": 8, "format": "RAW"} in metrics["metrics"]
    assert (tmp_path / "outputs" / "accuracy").read_text() == "8"
    assert (tmp_path / "outputs" / "model.txt").read_text() == run.artifact("model.txt")["target_path"]
    assert (tmp_path / "kfp" / "mlpipeline-ui-metadata.json").exists()


def test_save_to_writes_the_final_record(tmp_path):
    run = mlrun.run_start(handler=lambda ctx: {"x": 1}, save_to=str(tmp_path / "saved") + "/")
    saved = yaml.safe_load((tmp_path / "saved" / f"{run.uid}.yaml").read_text())
    assert saved == run.to_dict() and saved["status"]["outputs"] == {"x": 1}


def test_a_file_and_a_file_handler_run_as_commands(tmp_path):
    (tmp_path / "job.py").write_text("def work(ctx, n=1):\n    return {'n2': n * 2}\n")
    by_colon = mlrun.run_start(command=f"{tmp_path}/job.py:work", params={"n": 4}, stream=False)
    by_keyword = mlrun.run_local(command=str(tmp_path / "job.py"), handler="work", params={"n": 5}, stream=False)
    assert by_colon.output("n2") == 8 and by_colon.spec.runtime["kind"] == "local"
    assert by_keyword.output("n2") == 10 and by_keyword.spec.runtime["handler"] == "work"


def test_run_local_takes_mlrun_1x_arguments(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.txt").write_text("abc")

    def handler(context, p1=0):
        return {"text": context.get_input("in").get(encoding="utf-8"), "p1": p1}

    task = mlrun.new_task(params={"p1": 3})
    run = mlrun.run_local(task, name="legacy-api", handler=handler, inputs={"in": "in.txt"},
                          workdir=str(tmp_path / "data"), tag="v1", artifact_path=str(tmp_path / "out"))
    assert run.state() == "completed", run.error
    assert run.outputs == {"text": "abc", "p1": 3}
    assert run.metadata.name == "legacy-api" and run.metadata.labels["tag"] == "v1"
    assert run.spec.default_output_path == str(tmp_path / "out")


@pytest.mark.parametrize("kwargs, message", [
    ({}, "nothing to run: give a handler"),
    ({"command": "no-such-file.py"}, "file not found: no-such-file.py"),
    ({"handler": "work"}, "nothing to run"),
    ({"handler": train, "command": "x.py"}, "not both"),
    ({"handler": train, "mode": "noctx"}, "mode noctx runs a Python file"),
    ({"handler": train, "secrets": [("vault", "x")]}, "unknown secret source kind 'vault'"),
    ({"spec": ["not", "a", "spec"]}, "spec must be a RunTemplate, a mapping or a RunRecord"),
])
def test_bad_input_raises_one_line_before_anything_is_recorded(kwargs, message):
    with pytest.raises(InvalidInputError, match=message) as info:
        mlrun.run_start(**kwargs)
    assert "\n" not in str(info.value)
    assert get_run_db().list_runs() == []


def test_a_run_record_given_as_spec_runs_again_as_a_new_run():
    first = mlrun.run_start(handler=lambda ctx, p1=1: {"y": p1 + 1}, params={"p1": 5})
    again = mlrun.run_start(first.record, handler=lambda ctx, p1=1: {"y": p1 + 1})
    assert again.uid != first.uid and again.output("y") == 6 and again.state() == "completed"


def test_a_spec_handler_that_fails_after_making_its_context_fails_that_run():
    made = []

    def handler(struct):
        ctx = get_or_create_ctx("fails", spec=struct)
        made.append(ctx.uid)
        ctx.log_output("step", 1)
        raise RuntimeError("late failure")

    run = mlrun.run_start(handler=handler)
    assert made == [run.uid] and run.state() == "error" and run.error == "RuntimeError: late failure"
    assert run.status.outputs == {"step": 1} and stored(run)["status"]["state"] == "error"
    assert lifecycle.current() is None


def test_a_spec_handler_that_makes_no_context_and_a_handler_without_arguments_are_still_recorded():
    def no_context(spec=None):
        return {"had_spec": isinstance(spec, dict) and spec["metadata"]["name"] == ""}

    def no_arguments():
        get_or_create_ctx("named-inside").log_output("inside", True)
        return 7

    first = mlrun.run_start(handler=no_context)
    second = mlrun.run_start(handler=no_arguments)
    assert first.state() == "completed" and first.outputs == {"had_spec": True}
    assert first.metadata.name == "no_context"
    assert second.state() == "completed" and second.outputs == {"inside": True, "return": 7}


def test_a_template_carries_its_handler_function():
    task = mlrun.new_task("from-template", handler=lambda context, p1=0: {"twice": p1 * 2}, params={"p1": 21})
    run = mlrun.run_start(task)
    assert run.output("twice") == 42 and run.metadata.name == "from-template"


@pytest.mark.parametrize("form", ["context", "spec"])
def test_an_interrupted_handler_is_recorded_in_error_and_the_interrupt_goes_on(form):
    def by_context(context):
        raise KeyboardInterrupt

    def by_spec(struct):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mlrun.run_start(handler=by_context if form == "context" else by_spec, name="stopped")
    (summary,) = get_run_db().list_runs()
    assert summary["state"] == "error" and summary["error"] == "interrupted"
    assert lifecycle.current() is None


def test_a_file_run_given_back_as_spec_runs_the_same_file_handler_and_arguments_again(tmp_path):
    (tmp_path / "job.py").write_text("import sys\ndef work(ctx, n=1):\n    return {'n': n, 'argv': sys.argv[1:]}\n")
    first = mlrun.run_start(command=str(tmp_path / "job.py"), handler="work", args=["-v"], params={"n": 3},
                            stream=False)
    again = mlrun.run_start(first.record, stream=False)
    assert again.uid != first.uid and again.outputs == first.outputs == {"n": 3, "argv": ["-v"]}
    assert again.spec.runtime == first.spec.runtime
