"""MLRun 1.x's run_local: a file, a notebook, a function YAML or a function object; kind label, project default."""
from assets import write_handlers, write_notebook

import mlrun
from mlrun import code_to_function, new_task, run_local


def base_spec():
    spec = new_task(params={"p1": 9})
    spec.spec.inputs = {"infile": "in.txt"}
    return spec


def test_run_local_a_file_with_relative_inputs_under_workdir(tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "in.txt").write_text("from workdir\n")
    spec = base_spec()
    spec.spec.handler = "reads"
    result = run_local(spec, command=write_handlers(tmp_path), workdir=str(tmp_path / "work"))

    assert result.state() == "completed", result.error
    assert result.output("return") == "from workdir"
    assert result.metadata.labels["kind"] == "local" and result.metadata.project == "default"


def test_run_local_a_notebook_its_yaml_and_the_function(tmp_path):
    spec = base_spec()
    spec.spec.handler = "train"
    notebook = write_notebook(tmp_path)
    assert run_local(spec, command=notebook).output("root") == 3.0

    yaml_path = str(tmp_path / "nbyaml.yaml")
    fn = code_to_function(filename=notebook, kind="job").export(yaml_path)
    assert run_local(spec, command=yaml_path, workdir=str(tmp_path)).output("root") == 3.0
    assert run_local(spec, command=fn, workdir=str(tmp_path)).output("root") == 3.0
    assert fn.run(spec, workdir=str(tmp_path), local=True).metadata.labels["kind"] == "job"
    assert mlrun.run_function(fn, base_task=spec, workdir=str(tmp_path)).output("root") == 3.0
