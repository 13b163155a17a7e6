"""The step builder: pipelines using ``mlrun_op`` compiled by the real kfp compiler."""
import json
import sys

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from kfp import compiler, dsl

from mlrun.errors import InvalidInputError
from mlrun.kfp import component_spec, mlrun_op
from mlrun.kfp.ops import cli_text
from mlrun.params import parse_value


def compile_pipeline(pipeline, tmp_path) -> dict:
    path = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    return yaml.safe_load(path.read_text())


def concat(*parts) -> str:
    return json.dumps({"Concat": list(parts)})


def test_pipeline_values_become_inputs_and_constants_stay_on_the_command_line(tmp_path):
    @dsl.pipeline(name="two steps")
    def two_steps(lr: float = 0.1, data: str = "s3://bucket/data.csv", run_id: str = "r1"):
        train = mlrun_op("train.py", params={"lr": lr, "epochs": 3, "tag": "5", "layers": [8, 4]},
                         inputs={"data.csv": data}, outputs=["model", "p1"], name="train",
                         secrets=[("env", "AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY")], labels={"team": "ml"},
                         workflow="{{workflow.uid}}", out_path="s3://bucket/out", rundb="http://mlrun-db:8080",
                         handler="train", project="demo", kfp_dir="/tmp", image="registry/app:1",
                         args=["--verbose"])
        mlrun_op("test.py", params={"p1": run_id}, inputs={"model": train.outputs["model"]}, name="test")

    pipeline = compile_pipeline(two_steps, tmp_path)
    train = pipeline["deploymentSpec"]["executors"]["exec-train"]["container"]
    assert train["image"] == "registry/app:1"
    assert train["args"] == [
        "--kfp",
        "-p", concat("lr=", "{{$.inputs.parameters['lr']}}"), "-p", "epochs=3", "-p", 'tag="5"', "-p", "layers=[8, 4]",
        "-i", concat("data.csv=", "{{$.inputs.parameters['input_data_csv']}}"),
        "--label", "team=ml",
        "-s", "env=AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY",
        "--workflow", "{{$.inputs.parameters['workflow']}}",
        "--out-path", "s3://bucket/out", "--db", "http://mlrun-db:8080", "--project", "demo", "--handler", "train",
        "--kfp-dir", "/tmp",
        "--kfp-output", concat("model=", "{{$.outputs.parameters['model'].output_file}}"),
        "--kfp-output", concat("p1=", "{{$.outputs.parameters['p1'].output_file}}"),
        "train.py", "--verbose",
    ]
    assert pipeline["components"]["comp-train"]["inputDefinitions"]["parameters"] == {
        "lr": {"parameterType": "NUMBER_DOUBLE"}, "input_data_csv": {"parameterType": "STRING"},
        "workflow": {"parameterType": "STRING"}}

    test = pipeline["deploymentSpec"]["executors"]["exec-test"]["container"]
    # an output of the first step is named p1: the second step's parameter input is told apart
    assert test["args"][:5] == ["--kfp", "-p", concat("p1=", "{{$.inputs.parameters['p1']}}"),
                                "-i", concat("model=", "{{$.inputs.parameters['input_model']}}")]
    tasks = pipeline["root"]["dag"]["tasks"]
    assert tasks["train"]["inputs"]["parameters"]["workflow"] == {"runtimeValue": {"constant": "{{workflow.uid}}"}}
    assert tasks["test"]["inputs"]["parameters"]["input_model"] == {
        "taskOutputParameter": {"outputParameterKey": "model", "producerTask": "train"}}
    assert tasks["test"]["inputs"]["parameters"]["workflow"] == {
        "runtimeValue": {"constant": "{{$.pipeline_job_uuid}}"}}
    assert tasks["test"]["dependentTasks"] == ["train"]


def test_input_names_never_clash_with_output_names():
    spec, arguments = component_spec("x.py", params={"accuracy": "{{placeholder}}"}, outputs=["accuracy"],
                                     workflow="{{$.pipeline_job_uuid}}")
    assert [i["name"] for i in spec["inputs"]] == ["accuracy_2", "workflow"]
    assert arguments == {"accuracy_2": "{{placeholder}}", "workflow": "{{$.pipeline_job_uuid}}"}
    assert [o["name"] for o in spec["outputs"]] == ["accuracy"]


@pytest.mark.parametrize("kwargs, message", [
    ({"secrets": {"ACCESS_KEY": "s3cret"}}, "never values"),
    ({"outputs": ["val.acc", "val_acc"]}, "outputs 'val.acc' and 'val_acc' would both be named 'val_acc'"),
    ({"outputs": ["..."]}, "output '...' has no letters or digits"),
    ({"params": {"a=b": 1}}, "-p key 'a=b' must be a non-empty string without '='"),
    ({"inputs": {"": "s3://x"}}, "-i key '' must be a non-empty string"),
    ({"target": ""}, "target must be a file path or function URL"),
])
def test_bad_steps_are_refused_with_the_culprit_named(kwargs, message):
    kwargs = {"target": "x.py", **kwargs}
    with pytest.raises(InvalidInputError, match=message.replace("[", r"\[").replace(".", r"\.")) as info:
        component_spec(**kwargs)
    assert "s3cret" not in str(info.value)


@given(st.one_of(st.text(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
                 st.none(), st.lists(st.integers(), max_size=4), st.dictionaries(st.text(max_size=5), st.integers())))
def test_constant_parameters_read_back_as_the_same_value(value):
    parsed = parse_value(cli_text(value))
    assert parsed == value and type(parsed) is type(value)


def test_without_kfp_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "kfp", None)
    with pytest.raises(ImportError, match=r"pip install 'mlrun-lite\[kfp\]'"):
        mlrun_op("x.py")
