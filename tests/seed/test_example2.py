"""The seed's second example, run as the seed shows it: ``python -m mlrun run -p p1=5 -s file=secrets.txt
-i infile.txt=s3://mybucket/infile.txt example2.py`` against a real S3 endpoint (a moto server process)."""
import hashlib
import os
import shutil

import pytest
import yaml
from helpers import ROOT, mlrun_cli
from s3server import SECRET_KEY

from mlrun.rundb import get_run_db

EXAMPLE2 = os.path.join(ROOT, "examples", "example2.py")
APP_KEY = "app-key-from-the-secrets-file"
INFILE = b"hello from the bucket\n"


@pytest.fixture
def seed_folder(tmp_path, moto_server):
    """The seed's folder: example2.py and secrets.txt (the S3 credentials and endpoint, and the app's key), the
    input in s3://mybucket; the environment holds no AWS credentials, so only the secrets file can give them."""
    shutil.copy(EXAMPLE2, tmp_path / "example2.py")
    moto_server.secrets_file(str(tmp_path / "secrets.txt"), ACCESS_KEY=APP_KEY)
    moto_server.client().put_object(Bucket=moto_server.make_bucket("mybucket"), Key="infile.txt", Body=INFILE)
    return tmp_path, {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "S3_ENDPOINT_URL": "",
                      "AWS_ENDPOINT_URL": "", "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                      "AWS_CONFIG_FILE": str(tmp_path / "none"), "MLRUN_PROGRESS": ""}


def printed_task2(log: str) -> dict:
    """The record ``print(ctx.to_yaml())`` wrote last: task2's."""
    start = log.index("metadata:\n  name: task2\n")
    return yaml.safe_load(log[start:])


def test_example2_runs_as_the_seed_shows_it(seed_folder):
    folder, env = seed_folder
    result = mlrun_cli("run", "-p", "p1=5", "-s", "file=secrets.txt", "-i", "infile.txt=s3://mybucket/infile.txt",
                       "example2.py", cwd=str(folder), env=env)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "Traceback" not in result.stderr

    (summary,) = get_run_db().list_runs()  # task2 never commits: the store holds the process's own run only
    record = get_run_db().read_run_data(summary["uid"])
    assert record["metadata"]["name"] == "mytask" and record["status"]["state"] == "completed"
    assert record["spec"]["parameters"] == {"p1": 5, "p2": "a-string"}
    assert record["status"]["outputs"] == {"accuracy": 10} and record["status"]["commit_message"] == "aa"
    assert record["status"]["metrics"]["loss"]["yvalues"] == [7]
    (chart,) = record["status"]["output_artifacts"]
    assert chart["key"] == "chart.png" and chart["format"] == "png"
    assert chart["sha256"] == hashlib.sha256((folder / "chart.png").read_bytes()).hexdigest()
    (read,) = record["status"]["input_objects"]
    assert read["url"] == "s3://mybucket/infile.txt" and read["size"] == len(INFILE)

    log = get_run_db().read_log(summary["uid"]).decode()
    assert log.count(f"file\n{INFILE!r}\n") == 2 and log.count("accesskey = ******") == 2
    task2 = printed_task2(log)
    assert task2["metadata"]["name"] == "task2" and task2["metadata"]["uid"] != summary["uid"]
    assert task2["status"]["outputs"] == {"accuracy": 16} and task2["spec"]["parameters"]["p1"] == 8
    # the seed's name of the inputs is read, ours is recorded
    assert task2["spec"]["input_objects"] == [{"key": "infile.txt", "path": "s3://mybucket/infile.txt"}]
    assert "input_artifacts" not in task2["spec"]
    assert task2["spec"]["secret_sources"] == [{"kind": "file", "source": str(folder / "secrets.txt")}]
    assert task2["status"]["input_objects"][0]["size"] == len(INFILE)
    assert "accuracy: 16" in result.stdout

    for text in (result.stdout, result.stderr, log, str(record)):
        assert SECRET_KEY not in text and APP_KEY not in text


def test_example2_runs_in_strict_mode_too(seed_folder):
    """The seed's names are names, not unknown fields: strict mode takes them."""
    folder, env = seed_folder
    result = mlrun_cli("run", "--strict", "-q", "-p", "p1=2", "-s", "file=secrets.txt", "-i",
                       "infile.txt=s3://mybucket/infile.txt", "example2.py", cwd=str(folder), env=env)
    assert result.returncode == 0, result.stderr
    (summary,) = get_run_db().list_runs()
    assert summary["state"] == "completed" and summary["outputs"] == {"accuracy": 4}
    assert printed_task2(get_run_db().read_log(summary["uid"]).decode())["status"]["outputs"] == {"accuracy": 16}
