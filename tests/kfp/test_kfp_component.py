"""The component form of a step, built and compiled (no run): its interface, its types, its refusals."""
import json
import os
import subprocess
import sys

import pytest
import yaml
from helpers import ROOT, SEED_EXAMPLE, run_python
from kfp import compiler, components, dsl
from kfp.dsl import Dataset

from mlrun.errors import InvalidInputError
from mlrun.kfp import mlrun_component
from mlrun.kfp.component import component_source, iterations_html, typed_result


def compile_pipeline(pipeline, tmp_path) -> dict:
    path = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    return yaml.safe_load(path.read_text())


def test_parameters_inputs_and_outputs_become_the_component_interface(tmp_path):
    @dsl.pipeline(name="typed")
    def typed(lr: float = 0.1, data: str = "s3://bucket/data.csv"):
        train = mlrun_component(SEED_EXAMPLE, name="train", params={"lr": lr, "epochs": 3, "tag": "5", "layers": [8]},
                                inputs={"data.csv": data}, requirement="",
                                outputs={"accuracy": float, "n": int, "report": str, "ok": bool, "test.txt": None,
                                         "table.csv": None, "chart.html": None, "model.pkl": None, "raw": Dataset})
        mlrun_component(SEED_EXAMPLE, name="check", params={"threshold": train.outputs["accuracy"]},
                        inputs={"test.txt": train.outputs["test_txt"]}, requirement="", workflow="w-1")

    spec = compile_pipeline(typed, tmp_path)
    train = spec["components"]["comp-train"]
    assert {k: v["parameterType"] for k, v in train["inputDefinitions"]["parameters"].items()} == {
        "lr": "NUMBER_DOUBLE", "epochs": "NUMBER_INTEGER", "tag": "STRING", "layers": "LIST",
        "input_data_csv": "STRING", "workflow": "STRING"}
    assert {k: v["parameterType"] for k, v in train["outputDefinitions"]["parameters"].items()} == {
        "accuracy": "NUMBER_DOUBLE", "n": "NUMBER_INTEGER", "report": "STRING", "ok": "BOOLEAN"}
    assert {k: v["artifactType"]["schemaTitle"] for k, v in train["outputDefinitions"]["artifacts"].items()} == {
        "test_txt": "system.Artifact", "table_csv": "system.Dataset", "chart_html": "system.HTML",
        "model_pkl": "system.Model", "raw": "system.Dataset", "metrics": "system.Metrics"}
    tasks = spec["root"]["dag"]["tasks"]
    job_id = {"runtimeValue": {"constant": "{{$.pipeline_job_uuid}}"}}
    assert tasks["train"]["inputs"]["parameters"]["workflow"] == job_id
    assert not tasks["train"]["cachingOptions"].get("enableCache")
    check = tasks["check"]["inputs"]
    assert check["parameters"]["threshold"] == {"taskOutputParameter": {"outputParameterKey": "accuracy",
                                                                        "producerTask": "train"}}
    assert check["artifacts"]["input_test_txt"] == {"taskOutputArtifact": {"outputArtifactKey": "test_txt",
                                                                           "producerTask": "train"}}
    assert check["parameters"]["workflow"] == {"runtimeValue": {"constant": "w-1"}}
    # the handler file travels with the component; no image needs a copy of it
    executor = spec["deploymentSpec"]["executors"]["exec-train"]["container"]
    assert executor["image"] == "python:3.11"
    assert "def my_func(ctx)" in "".join(executor["command"]) and '"target": "example1.py"' in "".join(
        executor["command"])


def test_the_generated_function_carries_the_run_spec():
    spec, arguments, source = component_source("handlers/train.py", params={"lr": 0.1, "1st": "a", "class": 2},
                                               outputs=["accuracy", "model.pkl"], secrets=[("env", "A,B")],
                                               labels={"team": "ml"}, hyperparams={"lr": [0.1, 0.2]},
                                               hyper_options={"selector": "max.accuracy"}, workflow="wf")
    assert spec["params"] == [["lr", "lr", "float"], ["1st", "v_1st", "str"], ["class", "class_", "int"]]
    assert arguments == {"lr": 0.1, "v_1st": "a", "class_": 2, "workflow": "wf"}
    assert spec["results"] == [["accuracy", "accuracy", "float"]] and spec["artifacts"] == [["model.pkl", "model_pkl",
                                                                                              "Model"]]
    assert spec["secrets"] == [["env", "A,B"]] and spec["labels"] == {"team": "ml"} and "code" not in spec
    assert spec["iterations"] == "iterations" and spec["hyperparams"] == {"lr": [0.1, 0.2]}
    assert "model_pkl: Output[Model]" in source and "iterations: Output[HTML]" in source
    assert "-> NamedTuple('Outputs', [('accuracy', float)])" in source
    compile(source, "<generated>", "exec")


@pytest.mark.parametrize("kwargs, message", [
    ({"secrets": {"AWS_SECRET_ACCESS_KEY": "hunter2"}}, "never values"),
    ({"outputs": ["a.b", "a_b"]}, "'a_b' would be named 'a_b'"),
    ({"outputs": ["metrics"]}, "'metrics'"),
    ({"outputs": {"x": "tensor"}}, "output 'x' has type 'tensor'"),
    ({"outputs": ["..."]}, "no letters or digits"),
    ({"params": {"p": None}}, "p is None"),
    ({"params": {"p": object()}}, "type object"),
    ({"params": {"a=b": 1}}, "param key 'a=b'"),
    ({"hyperparams": {"lr": {1, 2}}}, "must be constants"),
    ({"labels": {"": "x"}}, "label ''"),
])
def test_bad_arguments_are_refused_while_the_pipeline_is_defined(kwargs, message):
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(")) as err:
        component_source("train.py", **kwargs)
    assert "\n" not in str(err.value) and "hunter2" not in str(err.value)


def test_a_large_handler_file_is_not_carried(tmp_path):
    big = tmp_path / "big.py"
    big.write_text("x = 1\n" * 200_000)
    with pytest.raises(InvalidInputError, match="embed=False"):
        component_source(str(big))
    assert "code" not in component_source(str(big), embed=False)[0]


def test_results_read_back_as_their_declared_types():
    assert typed_result("14", "float") == 14.0 and isinstance(typed_result("14", "float"), float)
    assert typed_result("14.0", "int") == 14 and typed_result("true", "bool") is True
    assert typed_result("[1, 2]", "list") == [1, 2]
    assert typed_result("high", "str") == "high" and typed_result('{"a": 1}', "dict") == {"a": 1}
    for text, kind in (("high", "float"), ("14.5", "int"), ("true", "float"), ("1", "bool"), ("{}", "list")):
        with pytest.raises(ValueError):
            typed_result(text, kind)


def test_the_iterations_page_escapes_and_limits():
    page = iterations_html([["iteration", "param.x"], [1, "<script>"], [2, None]], limit=1)
    assert "&lt;script&gt;" in page and "<script>" not in page and "1 more rows" in page and page.count("<tr>") == 2


def test_importing_mlrun_kfp_does_not_import_kfp():
    code = "import sys, mlrun.kfp, mlrun.kfp.component; print('kfp' in sys.modules)"
    assert run_python(code).stdout.strip() == "False"


@pytest.mark.parametrize("form", ["container", "component"])
def test_the_compiled_pipeline_yaml_loads_as_a_component(form, tmp_path):
    """Either form's compiled YAML is itself a component: it loads, and is a step of another pipeline."""
    path = tmp_path / "pipeline.yaml"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "deploy", "pipeline.py"), "--form", form,
                             "-o", str(path)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "MLRUN_KFP_REQUIREMENT": "mlrun-lite @ https://wheels.example/m.whl"})
    assert result.returncode == 0, result.stderr
    loaded = components.load_component_from_file(str(path))
    assert loaded.name == "my-mlrun-pipeline"
    assert set(loaded.component_spec.inputs) == {"p1", "save_to"}

    @dsl.pipeline(name="outer")
    def outer(n: int = 3):
        loaded(p1=n, save_to="s3://bucket/runs/")

    spec = compile_pipeline(outer, tmp_path)
    assert spec["root"]["dag"]["tasks"]["my-mlrun-pipeline"]["inputs"]["parameters"]["p1"] == {
        "componentInputParameter": "n"}
    if form == "component":
        assert "'mlrun-lite @ https://wheels.example/m.whl'" in json.dumps(spec)


@pytest.mark.parametrize("sweep", [False, True])
def test_the_two_step_example_compiles(sweep, tmp_path):
    path = tmp_path / "two_steps.yaml"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "deploy", "pipeline_two_steps.py"), "-o", str(path),
                             *(["--sweep"] if sweep else [])], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "MLRUN_KFP_REQUIREMENT": "mlrun-lite @ https://wheels.example/m.whl"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {path}"
    spec = yaml.safe_load(path.read_text())
    validate = spec["root"]["dag"]["tasks"]["validate"]
    assert validate["dependentTasks"] == ["train"]
    assert validate["inputs"]["parameters"]["min_accuracy"]["taskOutputParameter"]["producerTask"] == "train"
    assert validate["inputs"]["artifacts"]["input_model_txt"]["taskOutputArtifact"]["outputArtifactKey"] == "model_txt"
    train_outputs = spec["components"]["comp-train"]["outputDefinitions"]["artifacts"]
    assert ("iterations" in train_outputs) is sweep and ("iteration_results_csv" in train_outputs) is sweep
    assert "'mlrun-lite @ https://wheels.example/m.whl'" in json.dumps(spec)  # the YAML folds long lines
