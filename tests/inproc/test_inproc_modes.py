"""The same handler in-process, from the CLI and served: the same outputs, metrics and artifact hashes; a served
function's URL as ``run_start``'s command; inputs from S3 (a moto server) in-process."""
from __future__ import annotations

import hashlib
import json
import os

import pytest
import yaml
from helpers import mlrun_cli
from inproc_handlers import train
from remote_helpers import serving

import mlrun
from mlrun.rundb import get_run_db

HANDLERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inproc_handlers.py")
PARAMS = {"p1": 5, "p2": "xy"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``mlrun serve inproc_handlers.py:train``, allowed to read the tests' temp folders."""
    work = tmp_path_factory.mktemp("served")
    with serving(f"{HANDLERS}:train", "--allow", str(tmp_path_factory.getbasetemp()), "--out-path",
                 str(work / "out"), cwd=str(work)) as server:
        yield server


@pytest.fixture
def infile(tmp_path):
    path = tmp_path / "infile.txt"
    path.write_text("the same input\n")
    return str(path)


def what_it_did(record: dict) -> tuple:
    status = record["status"]
    hashes = {a["key"]: a["sha256"] for a in status["output_artifacts"]}
    return record["spec"]["parameters"], status["state"], status["outputs"], status["metrics"], hashes


def test_the_same_handler_gives_the_same_results_in_process_from_the_cli_and_served(served, infile, tmp_path):
    in_process = mlrun.run_start(handler=train, params=PARAMS, inputs={"infile.txt": infile})
    db = str(tmp_path / "cli-db")
    cli = mlrun_cli("run", "--handler", "train", "-p", "p1=5", "-p", "p2=xy", "-i", f"infile.txt={infile}",
                    "--db", db, "-q", HANDLERS, cwd=str(tmp_path))
    assert cli.returncode == 0, cli.stderr
    (summary,) = get_run_db(db).list_runs()
    from_cli = get_run_db(db).read_run_data(summary["uid"])
    remote = mlrun.run_start(command=served.url, params=PARAMS, inputs={"infile.txt": infile}, stream=False)

    expected = (PARAMS, "completed", {"accuracy": 10, "infile_chars": 15, "p2_twice": "xyxy"},
                {"loss": {"labels": {}, "xvalues": ["1", "2", "3"], "yvalues": [5, 10, 15]}},
                {"model.txt": hashlib.sha256(b"model p1=5 p2=xy input=the same input\n").hexdigest()})
    assert what_it_did(in_process.to_dict()) == expected
    assert what_it_did(from_cli) == expected
    assert what_it_did(remote.to_dict()) == expected
    assert (in_process.spec.runtime["kind"], from_cli["spec"]["runtime"]["kind"],
            remote.spec.runtime["kind"]) == ("handler", "local", "remote")


def test_a_served_function_url_is_a_command_and_its_run_is_recorded_here(served, infile):
    run = mlrun.run_start(command=served.url, params={"p1": 2}, inputs={"infile.txt": infile}, name="by-url",
                          stream=False)
    assert run.state() == "completed", run.error
    assert run.metadata.name == "by-url" and run.spec.runtime["command"] == served.url
    assert run.output("accuracy") == 4 and run.artifact("model.txt")["size"] > 0
    assert get_run_db().read_run_data(run.uid)["status"]["outputs"] == run.status.outputs
    failed = mlrun.run_start(command=served.url, params={"p1": 2}, inputs={"infile.txt": "/etc/hostname"},
                             stream=False)
    assert failed.state() == "error" and "not allowed to read /etc/hostname" in failed.error


def test_an_in_process_run_reads_s3_inputs_and_writes_s3_artifacts(moto_server, tmp_path):
    bucket = moto_server.make_bucket()
    moto_server.client().put_object(Bucket=bucket, Key="infile.txt", Body=b"from S3\n")
    secrets = moto_server.secrets_file(str(tmp_path / "secrets.txt"))
    task = mlrun.new_task("s3", params={"p1": 3}, inputs={"infile.txt": f"s3://{bucket}/infile.txt"},
                          artifact_path=f"s3://{bucket}/artifacts", secrets=[("file", secrets)])
    run = mlrun.run_start(task, handler=train)
    assert run.state() == "completed", run.error
    assert run.output("accuracy") == 6 and run.output("infile_chars") == 8
    body = moto_server.client().get_object(Bucket=bucket, Key="artifacts/model.txt")["Body"].read()
    assert body == b"model p1=3 p2=a-string input=from S3\n"
    assert run.artifact("model.txt")["target_path"] == f"s3://{bucket}/artifacts/model.txt"
    (lineage,) = run.status.input_objects
    assert lineage["url"] == f"s3://{bucket}/infile.txt" and lineage["etag"]
    secret_key = moto_server.env["AWS_SECRET_ACCESS_KEY"]
    assert secret_key not in run.to_yaml() + json.dumps(get_run_db().read_run_data(run.uid))
    assert yaml.safe_load(run.to_yaml())["spec"]["secret_sources"] == [{"kind": "file", "source": secrets}]
