"""The seed's command end to end against a real S3 endpoint (a moto server process)."""
import hashlib
import os
import shutil
import subprocess
import sys

import pytest
from helpers import ROOT, free_port, mlrun_cli, terminal_reader
from s3server import SECRET_KEY

from mlrun.model import load_yaml
from mlrun.rundb import get_run_db

EXAMPLE1 = os.path.join(ROOT, "examples", "example1.py")


@pytest.fixture
def workdir(tmp_path, moto_server):
    """A folder with example1.py and a secrets file holding the S3 credentials and endpoint."""
    shutil.copy(EXAMPLE1, tmp_path / "example1.py")
    moto_server.secrets_file(str(tmp_path / "secrets.txt"), ACCESS_KEY="app-access-key-123")
    return tmp_path


@pytest.fixture
def clean_env(tmp_path):
    """Environment for the CLI with no AWS credentials: only the secrets file can provide them."""
    return {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "S3_ENDPOINT_URL": "", "AWS_ENDPOINT_URL": "",
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "MLRUN_PROGRESS": ""}


def s3_object(server, bucket, key) -> bytes:
    return server.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def test_seed_command_reads_from_s3_and_writes_artifacts_and_record_there(moto_server, workdir, clean_env):
    bucket = moto_server.make_bucket("mybucket")
    moto_server.client().put_object(Bucket=bucket, Key="infile.txt", Body=b"hello from s3\n")
    result = mlrun_cli("run", "-p", "p1=5", "-s", "file=secrets.txt", "-i", "infile.txt=s3://mybucket/infile.txt",
                       "--out-path", "s3://mybucket/out", "--save-to", "s3://mybucket/records/", "example1.py",
                       cwd=str(workdir), env=clean_env)
    assert result.returncode == 0, result.stderr
    assert "hello from s3" in result.stdout and "accesskey = ******" in result.stdout
    for text in (result.stdout, result.stderr):
        assert SECRET_KEY not in text and "app-access-key-123" not in text

    uid = get_run_db().list_runs()[0]["uid"]
    record = get_run_db().read_run_data(uid)
    status = record["status"]
    assert status["state"] == "completed" and status["outputs"] == {"accuracy": 10}
    (read,) = status["input_objects"]
    assert read["url"] == "s3://mybucket/infile.txt" and read["size"] == 14 and read["read_time"]
    assert read["etag"] == hashlib.md5(b"hello from s3\n").hexdigest()
    (artifact,) = status["output_artifacts"]
    assert artifact["target_path"] == "s3://mybucket/out/test.txt"
    assert artifact["sha256"] == hashlib.sha256(b"abc is 123").hexdigest() and artifact["size"] == 10
    assert artifact["producer"] == {"name": "mytask", "uid": uid}
    assert artifact["sources"] == [{"key": "infile.txt", "path": "s3://mybucket/infile.txt"}]
    assert s3_object(moto_server, bucket, "out/test.txt") == b"abc is 123"

    saved = load_yaml(s3_object(moto_server, bucket, f"records/{uid}.yaml"))
    assert saved["metadata"]["uid"] == uid and saved["status"]["state"] == "completed"
    stored = str(record) + get_run_db().read_log(uid).decode() + str(saved)
    assert SECRET_KEY not in stored and moto_server.endpoint_url not in stored


def test_missing_input_object_ends_the_run_in_error_naming_it(moto_server, workdir, clean_env):
    bucket = moto_server.make_bucket()
    result = mlrun_cli("run", "-s", "file=secrets.txt", "-i", f"infile.txt=s3://{bucket}/missing.txt", "example1.py",
                       cwd=str(workdir), env=clean_env)
    assert result.returncode == 1
    (summary,) = get_run_db().list_runs()
    assert summary["state"] == "error" and f"not found: s3://{bucket}/missing.txt" in summary["error"]
    assert f"not found: s3://{bucket}/missing.txt" in result.stderr.splitlines()[-1]


def test_unreachable_endpoint_ends_the_run_in_error_after_retries(workdir, clean_env, moto_server):
    dead = f"http://127.0.0.1:{free_port()}"
    moto_server.secrets_file(str(workdir / "secrets.txt"), S3_ENDPOINT_URL=dead)
    result = mlrun_cli("run", "-s", "file=secrets.txt", "-i", "infile.txt=s3://mybucket/infile.txt", "example1.py",
                       cwd=str(workdir), env=dict(clean_env, AWS_MAX_ATTEMPTS="2"))
    assert result.returncode == 1
    (summary,) = get_run_db().list_runs()
    assert summary["state"] == "error"
    # the endpoint came from the secrets file: masked until endpoints stop counting as secret values
    assert "for s3://mybucket/infile.txt: cannot connect: " in summary["error"]
    assert summary["error"].startswith("StoreError: cannot reach S3 at ") and summary["error"].endswith("(2 attempts)")
    assert SECRET_KEY not in result.stdout + result.stderr


def test_run_store_in_s3_serves_get_logs_and_delete(moto_server, workdir, clean_env):
    bucket = moto_server.make_bucket()
    moto_server.client().put_object(Bucket=bucket, Key="infile.txt", Body=b"data\n")
    env = dict(clean_env, MLRUN_DBPATH=f"s3://{bucket}/runs", **{k: v for k, v in moto_server.env.items()})
    run = mlrun_cli("run", "-q", "-s", "file=secrets.txt", "-i", f"infile.txt=s3://{bucket}/infile.txt",
                    "example1.py", cwd=str(workdir), env=env)
    assert run.returncode == 0, run.stderr
    listed = mlrun_cli("get", "runs", "-o", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    import json

    (summary,) = json.loads(listed.stdout)
    assert summary["name"] == "mytask" and summary["state"] == "completed"
    uid = summary["uid"]
    assert "state: completed" in mlrun_cli("get", "run", uid, env=env).stdout
    assert "Params: p1=1" in mlrun_cli("logs", uid, env=env).stdout
    assert mlrun_cli("delete", "run", uid, env=env).returncode == 0
    gone = mlrun_cli("get", "run", uid, env=env)
    assert gone.returncode == 1 and f"run {uid} not found" in gone.stderr
    assert "Traceback" not in gone.stderr


def cli_with_terminal_stderr(*args, cwd, env):
    """Run the CLI with stderr on a pseudo-terminal (as a person would); returns (code, stdout, terminal)."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "mlrun", *args], cwd=cwd, env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    screen = terminal_reader(master)
    stdout, _ = proc.communicate(timeout=120)
    return proc.returncode, stdout.decode(), screen()


UPLOADER = """
import os
from mlrun import get_or_create_ctx

ctx = get_or_create_ctx("uploader")
with open("big.bin", "wb") as fp:
    fp.write(os.urandom(6 * 1024 * 1024))
ctx.log_artifact("big.bin")
print("uploaded")
"""


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_bar_is_shown_on_a_terminal_but_kept_out_of_the_log(moto_server, workdir, clean_env, quiet):
    bucket = moto_server.make_bucket()
    (workdir / "uploader.py").write_text(UPLOADER)
    args = ["run", "-s", "file=secrets.txt", "--out-path", f"s3://{bucket}/out", "uploader.py"]
    code, stdout, terminal = cli_with_terminal_stderr(*args[:1], *(["-q"] if quiet else []), *args[1:],
                                                      cwd=str(workdir), env=clean_env)
    assert code == 0, terminal
    assert len(s3_object(moto_server, bucket, "out/big.bin")) == 6 * 1024 * 1024
    uid = get_run_db().list_runs()[0]["uid"]
    log = get_run_db().read_log(uid).decode()
    assert "uploaded" in log and "upload big.bin" not in log and "%|" not in log
    if quiet:
        assert "upload big.bin" not in terminal
    else:
        assert "upload big.bin" in terminal and "100%" in terminal
