"""Function objects as MLRun 1.x's tests use them: new_function / code_to_function / import_function / fn.run."""
import base64
import os

import pytest
import yaml
from assets import write_handlers, write_notebook

import mlrun
import mlrun.datastore
import mlrun.errors
import mlrun.runtimes.utils
from mlrun.functions import FUNCTION_KINDS, Function, register_kind
from mlrun.rundb import get_run_db


def test_new_function_runs_a_handler_locally_with_params_and_records_it(tmp_path):
    fn = mlrun.new_function("trainer", project="p1", command=write_handlers(tmp_path), handler="train")
    run = fn.run(params={"p1": 5}, local=True)

    assert run.state() == "completed"
    assert run.output("accuracy") == 11 and run.outputs["p2_used"] == "a"
    assert run.metadata.project == "p1" and run.metadata.name == "trainer"
    assert run.metadata.labels["kind"] == "local"
    stored = get_run_db().read_run_data(run.uid)
    assert stored["status"]["outputs"]["accuracy"] == 11
    assert stored["status"]["output_artifacts"][0]["sha256"] == run.artifact("model.txt")["sha256"]


def test_a_run_without_a_project_goes_to_default_and_is_listed_there(tmp_path):
    run = mlrun.new_function("f", command=write_handlers(tmp_path)).run(handler="my_func", params={"p1": 1})

    assert run.metadata.project == "default"
    assert [r["uid"] for r in get_run_db().list_runs(project="default")] == [run.uid]


def test_handler_with_only_params_and_returns_naming_the_results(tmp_path):
    fn = mlrun.new_function("f", command=write_handlers(tmp_path))

    assert fn.run(handler="my_func", params={"p1": 4}).outputs == {"return": 7}
    assert fn.run(handler="my_func", params={"p1": 4}, returns=["total"]).outputs == {"total": 7}
    assert fn.run(handler="two_values", params={"p1": 2}, returns=["a", "b: int"]).outputs == {"a": 2, "b": 20}
    assert fn.run(handler="nothing").outputs == {}


def test_inputs_bind_by_name_as_data_items(tmp_path):
    (tmp_path / "in.txt").write_text("hello input\n")
    mlrun.datastore.set_in_memory_item("bucket/in.txt", b"from memory")
    fn = mlrun.new_function("f", command=write_handlers(tmp_path))

    assert fn.run(handler="reads", inputs={"infile": "in.txt"}, workdir=str(tmp_path)).output("return") == "hello input"
    assert fn.run(handler="reads", inputs={"infile": "memory://bucket/in.txt"}).output("return") == "from memory"


def test_class_method_and_dotted_handlers(tmp_path):
    fn = mlrun.new_function("f", command=write_handlers(tmp_path))

    assert fn.run(handler="Model::predict", params={"x": 3}).output("return") == 21
    assert fn.run(handler="json.dumps", params={"obj": [1, 2]}).output("return") == "[1, 2]"


def test_the_handler_decorator_names_outputs_and_sets_labels(tmp_path):
    run = mlrun.new_function("f", command=write_handlers(tmp_path)).run(handler="decorated", params={"x": 5})

    assert run.outputs == {"doubled": 10, "tripled": 15}
    assert run.metadata.labels["flavour"] == "decorated"


def test_a_failing_run_raises_run_error_and_is_recorded(tmp_path):
    fn = mlrun.new_function("f", command=write_handlers(tmp_path))
    with pytest.raises(mlrun.runtimes.utils.RunError, match="ValueError: bad value") as caught:
        fn.run(handler="fails")

    assert caught.value.run.state() == "error"
    assert get_run_db().read_run_data(caught.value.run.uid)["status"]["state"] == "error"


def test_a_callable_handler_and_hyper_params_with_a_bare_selector(tmp_path):
    def handler(context, p1=1, p2=10):
        context.log_result("r1", p1 * p2)

    run = mlrun.new_function("sweep").run(handler=handler, hyperparams={"p1": [1, 2], "p2": [10, 20]},
                                           selector="r1")
    assert run.output("best_iteration") == 4 and run.output("r1") == 40
    assert [row[2:4] for row in run.status.iterations[1:]] == [[1, 10], [2, 10], [1, 20], [2, 20]]


def test_hyper_param_options_object_and_min_selector(tmp_path):
    from mlrun.model import HyperParamOptions, HyperParamStrategies

    def handler(context, p1=1):
        context.log_result("loss", abs(p1 - 2))

    options = HyperParamOptions(selector="min.loss", strategy=HyperParamStrategies.list, parallel_runs=1)
    run = mlrun.new_function("sweep").run(handler=handler, hyperparams={"p1": [1, 2, 3]}, hyper_param_options=options)
    assert run.output("best_iteration") == 2


def test_a_task_as_runspec(tmp_path):
    task = mlrun.new_task("from-task", params={"p1": 3}).with_hyper_params({"p2": ["a", "bbb"]}, selector="accuracy")
    run = mlrun.new_function("f", command=write_handlers(tmp_path)).run(task, handler="train")

    assert run.metadata.name == "from-task" and run.output("accuracy") == 9


def test_job_kind_runs_the_handler_in_a_child_process_and_says_once_that_local_is_implied(tmp_path, capfd,
                                                                                          monkeypatch):
    import mlrun.functions.local

    monkeypatch.setattr(mlrun.functions.local, "_told", set())
    fn = mlrun.new_function("job1", kind="job", command=write_handlers(tmp_path), handler="train")
    run = fn.run(params={"p1": 2})

    assert run.output("accuracy") == 5 and run.metadata.labels["kind"] == "job"
    assert run.spec.runtime["kind"] == "local"  # the child-process runtime
    assert capfd.readouterr().err.count("local=True implied") == 1
    fn.run(params={"p1": 3})
    assert "local=True implied" not in capfd.readouterr().err


def test_a_command_with_arguments_gets_the_parameters_substituted(tmp_path):
    script = tmp_path / "no_ctx.py"
    script.write_text("import sys\nprint('args', sys.argv[1:])\nopen('args.txt', 'w').write(' '.join(sys.argv[1:]))\n")
    run = mlrun.new_function("noctx", command=f"{script} --xyz {{xyz}}").run(params={"xyz": "abc"}, local=True)

    assert run.state() == "completed"
    assert (tmp_path / "args.txt").read_text() == "--xyz abc"


def test_code_to_function_from_a_py_file_embeds_the_code(tmp_path):
    path = write_handlers(tmp_path)
    fn = mlrun.code_to_function("trainer", filename=path, kind="job", handler="train", requirements=["numpy"])

    assert fn.kind == "job" and fn.spec.command == ""
    with open(path) as fp:
        assert base64.b64decode(fn.spec.build.functionSourceCode).decode() == fp.read()
    os.remove(path)  # the function carries its code
    assert fn.run(params={"p1": 1}).output("accuracy") == 3


def test_code_to_function_from_a_notebook_takes_the_marked_code_cells(tmp_path):
    fn = mlrun.code_to_function("nb", filename=write_notebook(tmp_path), kind="local", handler="train")

    code = fn.code
    assert "import math" in code and "# !pip install something" in code
    assert "ignored cell" not in code and "before start-code" not in code and "after end-code" not in code
    assert "import json" not in code
    assert fn.run(params={"p1": 16}).output("root") == 4.0
    assert mlrun.function_to_module(fn).other(None) == "other"


def test_export_and_import_round_trip_in_mlrun_1x_layout(tmp_path):
    fn = mlrun.code_to_function("trainer", project="proj", tag="v1", filename=write_handlers(tmp_path), kind="job",
                                handler="train", requirements=["numpy"], labels={"team": "a"})
    fn.set_env("MODE", "x")
    fn.export(str(tmp_path / "out" / "function.yaml"))

    data = yaml.safe_load((tmp_path / "out" / "function.yaml").read_text())
    assert data["kind"] == "job"
    assert data["metadata"] == {"name": "trainer", "tag": "v1", "project": "proj", "labels": {"team": "a"},
                                "annotations": {}, "categories": []}
    assert data["spec"]["default_handler"] == "train"
    assert data["spec"]["build"]["requirements"] == ["numpy"]
    assert data["spec"]["env"] == [{"name": "MODE", "value": "x"}]

    again = mlrun.import_function(str(tmp_path / "out" / "function.yaml"))
    assert type(again) is type(fn) and again.to_dict() == fn.to_dict(strip=True)
    assert again.run(params={"p1": 2}).output("accuracy") == 5
    assert mlrun.new_function(runtime=data).to_dict() == again.to_dict()
    assert yaml.safe_load(fn.to_yaml()) == fn.to_dict()


def test_import_function_errors_name_the_culprit(tmp_path):
    with pytest.raises(mlrun.errors.MLRunNotFoundError, match="function file not found: nope.yaml"):
        mlrun.import_function("nope.yaml")
    (tmp_path / "bad.yaml").write_text("a: 1\n")
    with pytest.raises(mlrun.errors.MLRunInvalidArgumentError, match="not a function's YAML"):
        mlrun.import_function(str(tmp_path / "bad.yaml"))
    (tmp_path / "kind.yaml").write_text("kind: spark\nmetadata: {name: x}\nspec: {}\n")
    with pytest.raises(mlrun.errors.MLRunInvalidArgumentError, match="unknown function kind 'spark'"):
        mlrun.import_function(str(tmp_path / "kind.yaml"))


@pytest.mark.parametrize("name", ["asd/asd", "-x", "a b", "x" * 64])
def test_bad_names_are_refused_at_creation(name):
    with pytest.raises(mlrun.errors.MLRunInvalidArgumentError, match="function name"):
        mlrun.new_function(name)


def test_another_package_registers_a_kind_and_its_class():
    class ServingLike(Function):
        kind = "serving-like"

    with FUNCTION_KINDS.saved():
        register_kind("serving-like", ServingLike)
        fn = mlrun.new_function("s", kind="serving-like")
        assert isinstance(fn, ServingLike) and fn.to_dict()["kind"] == "serving-like"
        assert type(mlrun.import_function.__module__) is str
    assert "serving-like" not in FUNCTION_KINDS.registered()


def test_function_to_module_from_a_file_and_a_function(tmp_path):
    module = mlrun.function_to_module(write_handlers(tmp_path))
    assert module.my_func(1) == 4
    fn = mlrun.code_to_function("x", filename=write_handlers(tmp_path, "other.py"))
    assert mlrun.function_to_module(fn).Model().predict(2) == 14
    assert mlrun.function_to_module("", silent=True) is None


def test_run_function_accepts_a_function_object(tmp_path):
    fn = mlrun.new_function("f", command=write_handlers(tmp_path))
    run = mlrun.run_function(fn, handler="my_func", params={"p1": 1}, local=True)
    assert run.output("return") == 4


def test_the_1x_modules_import():
    import mlrun.datastore.inmem
    import mlrun.execution
    import mlrun.launcher.factory
    import mlrun.runtimes.utils

    assert mlrun.execution.MLClientCtx is mlrun.MLClientCtx
    assert issubclass(mlrun.runtimes.utils.RunError, mlrun.errors.MLRunError)
    launcher = mlrun.launcher.factory.LauncherFactory().create_launcher(is_remote=False, local=True)

    def handler(context):
        context.log_result("launched", True)

    assert launcher.launch(mlrun.new_function("l"), handler=handler).output("launched") is True


CLASS_CODE = '''
class mycls:
    def __init__(self, context=None, a1=1):
        self.a1 = a1

    def mtd(self, context, x=0, y=0):
        return {"rx": x, "ry": y, "ra1": self.a1}
'''


@pytest.mark.parametrize("kind", ["local", "job"])
def test_class_handlers_take_init_args_from_the_run(tmp_path, kind):
    (tmp_path / "handler.py").write_text(CLASS_CODE)
    fn = mlrun.code_to_function("mytst", filename=str(tmp_path / "handler.py"), kind=kind)
    cases = [({"y": 3}, {"rx": 0, "ry": 3, "ra1": 1}),
             ({"_init_args": {"a1": 9}, "y": 5}, {"rx": 0, "ry": 5, "ra1": 9})]
    for params, results in cases:
        run = mlrun.run_function(fn, handler="mycls::mtd", params=params)
        assert run.status.results == results


def test_a_module_path_handler_needs_no_code_of_the_function():
    run = mlrun.new_function("mytst", kind="job").run(handler="json.dumps", params={"obj": {"x": 99}}, local=True)
    assert run.output("return") == '{"x": 99}'


def test_code_that_fails_to_load_raises_run_error_before_running(tmp_path):
    (tmp_path / "fail.py").write_text("raise ValueError('broken at import')\n\ndef handler(context):\n    pass\n")
    with pytest.raises(mlrun.runtimes.utils.RunError, match="failed on pre-loading its code: .*broken at import"):
        mlrun.new_function(command=str(tmp_path / "fail.py")).run(local=True, handler="handler")


def test_a_bad_run_name_is_refused():
    with pytest.raises(ValueError, match="run name 'asd/asd' is not valid"):
        mlrun.new_function().run(name="asd/asd", handler=lambda: None)


def test_args_reach_the_script_intact(tmp_path):
    (tmp_path / "no_ctx.py").write_text("import sys\nprint(sys.argv[1:])\n")
    run = mlrun.new_function(command=str(tmp_path / "no_ctx.py"), args=["It's", "a", "nice", "day!"]).run(
        params={"xyz": "789"})
    assert """["It's", 'a', 'nice', 'day!']""" in get_run_db().get_log(run.uid).decode()


def test_dask_kind_runs_a_sweeps_iterations_on_a_local_dask_cluster(tmp_path):
    fn = mlrun.new_function("dk", kind="dask", command=write_handlers(tmp_path), handler="train")
    run = fn.run(hyperparams={"p1": [1, 2]}, selector="accuracy")

    assert run.spec.hyper_options["dask"] == "local" and run.metadata.labels["kind"] == "dask"
    assert run.output("best_iteration") == 2 and run.output("accuracy") == 5


def test_code_to_function_without_embedding_runs_the_file_and_can_write_a_notebooks_code(tmp_path):
    path = write_handlers(tmp_path)
    fn = mlrun.code_to_function(filename=path, kind="local", embed_code=False)
    assert fn.kind == "local" and fn.spec.command == path and not fn.spec.build.functionSourceCode
    assert fn.metadata.name == "handlers"

    out = str(tmp_path / "ctf_tst.py")
    nb = mlrun.code_to_function(filename=write_notebook(tmp_path), kind="job", code_output=out, embed_code=False)
    assert nb.spec.command == out and "def train" in (tmp_path / "ctf_tst.py").read_text()
    assert nb.run(handler="train", params={"p1": 9}).output("root") == 3.0


def test_a_module_of_the_code_runs_on_a_context_made_from_a_task(tmp_path):
    module = mlrun.function_to_module(write_handlers(tmp_path))
    task = mlrun.new_task(params={"p3": 1})
    context = mlrun.get_or_create_ctx("myfunc", spec=task)
    module.train(context, p1=2)
    assert context.results["accuracy"] == 5 and context.parameters["p3"] == 1
