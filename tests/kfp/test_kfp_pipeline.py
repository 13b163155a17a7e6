"""The seed's pipeline compiled by the real kfp compiler, and its step's command line run here.

The compiled step is executed the way a KFP v2 launcher would: its placeholders are substituted
(input parameters, output-parameter files, the pipeline job id, ``Concat``) and its command runs
in a working directory holding the seed's example.
"""
import json
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

from mlrun.kfp.outputs import METRIC_NAME, METRICS_FILE, UI_METADATA_FILE
from mlrun.model import RunRecord
from mlrun.rundb import get_run_db

PIPELINE_SCRIPT = os.path.join(ROOT, "deploy", "pipeline.py")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict:
    """``python deploy/pipeline.py -o pipeline.yaml``, as a user compiles it."""
    path = tmp_path_factory.mktemp("compiled") / "pipeline.yaml"
    result = subprocess.run([sys.executable, PIPELINE_SCRIPT, "-o", str(path)], capture_output=True, text=True,
                            timeout=120, env={k: v for k, v in os.environ.items() if k != "MLRUN_IMAGE"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {path} (image mlrun/mlrun)"
    return yaml.safe_load(path.read_text())


def test_the_compiled_pipeline(compiled):
    assert compiled["pipelineInfo"] == {"name": "my-mlrun-pipeline", "description": "Shows how to use mlrun."}
    pipeline_inputs = compiled["root"]["inputDefinitions"]["parameters"]
    assert pipeline_inputs["p1"]["parameterType"] == "NUMBER_INTEGER" and pipeline_inputs["p1"]["defaultValue"] == 5
    assert pipeline_inputs["save_to"] == {"defaultValue": "./", "isOptional": True, "parameterType": "STRING"}

    container = compiled["deploymentSpec"]["executors"]["exec-mlrun"]["container"]
    assert container["image"] == "mlrun/mlrun"
    assert container["command"] == ["python", "-m", "mlrun", "run"]
    assert container["args"] == [
        "--kfp",
        "-p", json.dumps({"Concat": ["p1=", "{{$.inputs.parameters['p1']}}"]}),
        "--save-to", "{{$.inputs.parameters['save_to']}}",
        "--workflow", "{{$.inputs.parameters['workflow']}}",
        "--kfp-output", json.dumps({"Concat": ["accuracy=", "{{$.outputs.parameters['accuracy'].output_file}}"]}),
        "--kfp-output", json.dumps({"Concat": ["test.txt=", "{{$.outputs.parameters['test_txt'].output_file}}"]}),
        "example1.py",
    ]
    component = compiled["components"]["comp-mlrun"]
    assert component["outputDefinitions"]["parameters"] == {"accuracy": {"parameterType": "STRING"},
                                                            "test_txt": {"parameterType": "STRING"}}
    task = compiled["root"]["dag"]["tasks"]["mlrun"]
    assert task["inputs"]["parameters"] == {
        "p1": {"componentInputParameter": "p1"},
        "save_to": {"componentInputParameter": "save_to"},
        "workflow": {"runtimeValue": {"constant": "{{$.pipeline_job_uuid}}"}},
    }
    assert not task["cachingOptions"].get("enableCache")  # every execution is a new, recorded run


def launch(compiled: dict, pipeline_args: dict, job_id: str, outputs_dir: str) -> list[str]:
    """The step's command line with every placeholder filled in, as KFP's v2 launcher does."""
    task = compiled["root"]["dag"]["tasks"]["mlrun"]
    types = compiled["components"]["comp-mlrun"]["inputDefinitions"]["parameters"]
    defaults = {k: v.get("defaultValue") for k, v in compiled["root"]["inputDefinitions"]["parameters"].items()}
    values = {}
    for name, source in task["inputs"]["parameters"].items():
        if "componentInputParameter" in source:
            value = pipeline_args.get(source["componentInputParameter"], defaults[source["componentInputParameter"]])
        else:
            value = source["runtimeValue"]["constant"].replace("{{$.pipeline_job_uuid}}", job_id)
        values[name] = str(int(value)) if types[name]["parameterType"] == "NUMBER_INTEGER" else str(value)

    def fill(text: str) -> str:
        text = re.sub(r"\{\{\$\.inputs\.parameters\['(\w+)'\]\}\}", lambda m: values[m.group(1)], text)
        return re.sub(r"\{\{\$\.outputs\.parameters\['(\w+)'\]\.output_file\}\}",
                      lambda m: os.path.join(outputs_dir, m.group(1), "data"), text)

    def resolve(arg: str) -> str:
        if arg.startswith('{"Concat"'):
            return "".join(resolve(part) for part in json.loads(arg)["Concat"])
        return fill(arg)

    container = compiled["deploymentSpec"]["executors"]["exec-mlrun"]["container"]
    command = [resolve(a) for a in container["command"] + container["args"]]
    assert not [a for a in command if "{{" in a], command
    return [sys.executable if command[0] == "python" else command[0], *command[1:]]


def test_the_compiled_step_runs_and_hands_its_results_to_kfp(compiled, tmp_path, isolated_store):
    workdir, save_to, outputs_dir = tmp_path / "image", tmp_path / "records", tmp_path / "kfp-outputs"
    workdir.mkdir()
    save_to.mkdir()
    shutil.copy(SEED_EXAMPLE, workdir / "example1.py")
    (workdir / "infile.txt").write_text("hello from infile.txt\n")
    job_id = str(uuid.uuid4())
    command = launch(compiled, {"p1": 7, "save_to": str(save_to)}, job_id, str(outputs_dir))
    env = {**os.environ, "MLRUN_KFP_DIR": str(tmp_path / "root"), "MLRUN_KFP_OUTPUTS_DIR": str(tmp_path / "tmp")}
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr

    # the output parameters KFP v2 collects
    assert (outputs_dir / "accuracy" / "data").read_text() == "14"
    artifact_path = (outputs_dir / "test_txt" / "data").read_text()
    assert artifact_path == str(workdir / "test.txt") and Path(artifact_path).read_bytes() == b"abc is 123"
    # the KFP v1 files
    assert (tmp_path / "tmp" / "accuracy").read_text() == "14"
    metrics = json.loads((tmp_path / "root" / METRICS_FILE).read_text())["metrics"]
    assert metrics == [{"name": "accuracy", "numberValue": 14, "format": "RAW"}]
    assert all(METRIC_NAME.match(m["name"]) for m in metrics)
    ui = json.loads((tmp_path / "root" / UI_METADATA_FILE).read_text())
    assert ui["version"] == 1 and ui["outputs"][0]["type"] == "markdown"
    assert "| p1 | 7 |" in ui["outputs"][0]["source"] and f"workflow `{job_id}`" in ui["outputs"][0]["source"]

    # the run: recorded in the store, saved where the pipeline said, labelled with the pipeline job
    runs = get_run_db(isolated_store).list_runs()
    assert len(runs) == 1 and runs[0]["labels"]["workflow"] == job_id
    saved = RunRecord.from_text((save_to / f"{runs[0]['uid']}.yaml").read_text())
    assert saved.state == "completed" and saved.outputs == {"accuracy": 14}
    assert saved.spec.parameters["p1"] == 7 and saved.metadata.labels["workflow"] == job_id
