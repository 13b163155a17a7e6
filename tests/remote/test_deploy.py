"""Deployment files: nuclio function configs, the top-level function.yaml, and deploy/Dockerfile's command."""
import base64
import json
import os
import shlex
import sys

import pytest
import yaml
from helpers import ROOT, mlrun_cli
from remote_helpers import SEED_NUCLIO, Workdir, serving

import mlrun
from mlrun.deploy.nuclio import function_config
from mlrun.errors import InvalidInputError


def test_a_config_has_every_field_nuclio_needs(tmp_path):
    config = function_config(f"{SEED_NUCLIO}:handler", name="myfunc", requirements=["scikit-learn>=1.3"],
                             env={"MLRUN_OUT_PATH": "s3://bucket/artifacts"}, workers=8, max_body_size=1 << 20,
                             base_image="python:3.11-slim", namespace="ml",
                             mlrun_requirement="git+https://example.com/mlrun.git")
    assert (config["apiVersion"], config["kind"]) == ("nuclio.io/v1", "NuclioFunction")
    assert config["metadata"] == {"name": "myfunc", "namespace": "ml"}
    spec = config["spec"]
    assert (spec["runtime"], spec["handler"]) == ("python:3.11", "seed_nuclio:handler")
    assert spec["env"] == [{"name": "MLRUN_OUT_PATH", "value": "s3://bucket/artifacts"}]
    assert spec["build"]["baseImage"] == "python:3.11-slim"
    assert spec["build"]["commands"] == ["pip install git+https://example.com/mlrun.git",
                                         "pip install 'scikit-learn>=1.3'"]
    with open(SEED_NUCLIO, "rb") as fp:
        assert base64.b64decode(spec["build"]["functionSourceCode"]) == fp.read()
    assert spec["triggers"] == {"http": {"kind": "http", "numWorkers": 8,
                                         "attributes": {"maxRequestBodySize": 1 << 20}}}


def test_the_name_defaults_to_the_file_made_dns_safe_and_bad_input_is_named(tmp_path):
    handler_file = tmp_path / "My_Model.py"
    handler_file.write_text("def handler(context, event):\n    return 'ok'\n")
    assert function_config(str(handler_file), bundle=True)["metadata"]["name"] == "my-model"
    with pytest.raises(InvalidInputError, match="function name 'Bad_Name' must be lowercase"):
        function_config(str(handler_file), name="Bad_Name", bundle=True)
    with pytest.raises(InvalidInputError, match="handler 'predict' not found in"):
        function_config(f"{handler_file}:predict", bundle=True)
    with pytest.raises(InvalidInputError, match="file not found: missing.py"):
        function_config("missing.py", bundle=True)
    with pytest.raises(InvalidInputError, match="say how the function's build installs mlrun: --bundle DIR"):
        function_config(str(handler_file))


def test_the_cli_writes_the_config_and_refuses_bad_input_in_one_line(tmp_path):
    out = tmp_path / "function.yaml"
    result = mlrun_cli("function-config", f"{SEED_NUCLIO}:handler", "--env", "A=1", "-r", "pandas", "-o", str(out),
                       "--mlrun-requirement", "git+https://example.com/mlrun.git")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(out.read_text())
    assert config["spec"]["env"] == [{"name": "A", "value": "1"}] and config["metadata"]["name"] == "seed-nuclio"
    bad = mlrun_cli("function-config", f"{SEED_NUCLIO}:nope", "-o", str(tmp_path / "other.yaml"))
    assert bad.returncode == 2 and bad.stderr.strip().endswith(f"Error: handler 'nope' not found in {SEED_NUCLIO}")
    assert "Traceback" not in bad.stderr and not (tmp_path / "other.yaml").exists()
    unsaid = mlrun_cli("function-config", f"{SEED_NUCLIO}:handler")
    assert unsaid.returncode == 2 and "--bundle DIR" in unsaid.stderr and "Traceback" not in unsaid.stderr


def dockerfile_command() -> tuple[list[str], dict]:
    """ENTRYPOINT + CMD (exec form) and the ENV settings of deploy/Dockerfile."""
    instructions, env, current = {}, {}, ""
    with open(os.path.join(ROOT, "deploy", "Dockerfile")) as fp:
        for raw in fp:
            line = raw.rstrip("\n")
            if not current and (not line.strip() or line.lstrip().startswith("#")):
                continue
            current += line.rstrip("\\").strip() + " "
            if line.endswith("\\"):
                continue
            keyword, _, rest = current.strip().partition(" ")
            current = ""
            if keyword == "ENV":
                env.update(pair.split("=", 1) for pair in shlex.split(rest))
            else:
                instructions[keyword] = rest
    return json.loads(instructions["ENTRYPOINT"]) + json.loads(instructions["CMD"]), env


def test_the_dockerfile_command_serves_the_seed_handler(tmp_path):
    command, env = dockerfile_command()
    assert command == ["/usr/local/bin/mlrun-serve"] and env["MLRUN_SERVE_HOST"] == "0.0.0.0"
    work = Workdir(str(tmp_path))
    os.symlink(os.path.join(ROOT, "handlers"), tmp_path / "handlers")  # what the image copies to its WORKDIR
    # the image's entrypoint and settings as they are (its output path aside: /data is the image's);
    # serving() moves the address to 127.0.0.1 and a free port
    env = {**env, "MLRUN_OUT_PATH": work.path,
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    entrypoint = ["sh", os.path.join(ROOT, "deploy", "entrypoint.sh")]
    with serving("", cwd=work.path, command=entrypoint, env=env) as served:
        record = mlrun.run_function(served.url, params={"p1": 7}, inputs={"infile.txt": work.infile}, stream=False)
    assert record.state == "completed" and record.outputs == {"accuracy": 14}
    assert f"with {env['MLRUN_SERVE_THREADS']} threads" in "".join(served.output)
