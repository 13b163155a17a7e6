"""`mlrun serve` as a real process on 127.0.0.1, called by the CLI, the Python API and plain HTTP clients."""
import json
import os
import threading
from pathlib import Path

import pytest
import requests
import yaml
from helpers import mlrun_cli
from remote_helpers import ACCESS_KEY, INFILE_TEXT, SEED_BUCKET, SEED_HANDLERS, SEED_VERBATIM, serving

import mlrun
from mlrun.model import RunRecord
from mlrun.rundb import get_run_db


def seed_args(work, *extra):
    return ("-p", "p1=5", "-s", f"file={work.secrets}", "-i", f"infile.txt={work.infile}", *extra)


def assert_no_secret(*texts):
    for text in texts:
        assert ACCESS_KEY not in (text if isinstance(text, str) else json.dumps(text))


def test_the_cli_runs_the_seed_function_by_url(seed_server, workdir):
    served, _ = seed_server
    result = mlrun_cli("run", *seed_args(workdir, "--uid", "remote0001", "--save-to", workdir.path + "/"),
                       served.url, cwd=workdir.path)
    assert result.returncode == 0, result.stderr
    log_part, _, yaml_part = result.stdout.partition("metadata:")
    assert "Params: p1=5, p2=a-string" in log_part and "accesskey = ******" in log_part
    assert f"file\nb{INFILE_TEXT!r}" in log_part
    printed = RunRecord.from_text("metadata:" + yaml_part)
    stored = RunRecord.from_dict(get_run_db().read_run_data("remote0001"))
    saved = RunRecord.from_text(Path(os.path.join(workdir.path, "remote0001.yaml")).read_text())
    assert printed == stored == saved
    assert stored.state == "completed" and stored.outputs == {"accuracy": 10}
    assert stored.status.metrics["loss"]["yvalues"] == [2, 4, 6]
    assert stored.spec.runtime == {"kind": "remote", "command": served.url}
    assert stored.spec.secret_sources == [{"kind": "file", "source": workdir.secrets}]
    assert [a["key"] for a in stored.status.output_artifacts] == ["test.txt"]
    log = get_run_db().read_log("remote0001").decode()
    assert "accesskey = ******" in log
    with open(workdir.path + "/remote0001.yaml") as saved:
        assert_no_secret(result.stdout, result.stderr, stored.to_dict(), log, saved.read())


def test_the_python_api_returns_the_record(seed_server):
    served, work = seed_server
    record = mlrun.run_function(served.url, params={"p1": 3}, inputs={"infile.txt": work.infile},
                                secrets={"ACCESS_KEY": ACCESS_KEY}, labels={"team": "ml"}, stream=False)
    assert isinstance(record, RunRecord)
    assert record.state == "completed" and record.outputs == {"accuracy": 6}
    assert record.metadata.labels["team"] == "ml" and record.metadata.name == "seed"
    assert RunRecord.from_dict(get_run_db().read_run_data(record.uid)) == record
    assert get_run_db().read_log(record.uid).startswith(b"Run: seed (uid=" + record.uid.encode())


def test_concurrent_runs_each_get_their_own_log(seed_server):
    served, work = seed_server
    records = {}

    def one(n):
        records[n] = mlrun.run_function(served.url, params={"p1": n}, inputs={"infile.txt": work.infile},
                                        secrets={"ACCESS_KEY": f"key-of-run-{n}"}, stream=False)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(records) == list(range(8))  # every caller got its record back
    for n, record in records.items():
        log = get_run_db().read_log(record.uid).decode()
        assert record.outputs == {"accuracy": 2 * n}
        assert log.count("Params:") == 1 and f"Params: p1={n}, p2=a-string" in log
        assert log.count("accesskey = ******") == 1 and "key-of-run" not in log


def test_a_failing_run_answers_500_and_the_cli_records_it_and_exits_1(seed_server, workdir):
    served, _ = seed_server
    missing = os.path.join(workdir.path, "no-such-file.txt")
    result = mlrun_cli("run", "-p", "p1=5", "-s", f"file={workdir.secrets}", "-i", f"infile.txt={missing}",
                       "--uid", "remote0002", served.url, cwd=workdir.path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: run remote0002 failed: NotFoundError: file not found: {missing}")
    stored = get_run_db().read_run_data("remote0002")
    assert stored["status"]["state"] == "error" and stored["status"]["error"].startswith("NotFoundError")
    log = get_run_db().read_log("remote0002").decode()
    assert "Traceback" in log and "in my_func" in log
    assert_no_secret(result.stdout, result.stderr, stored, log)

    answer = requests.post(served.url, json={"spec": {"input_objects": [{"key": "infile.txt", "path": missing}]},
                                             "secrets": {"ACCESS_KEY": ACCESS_KEY}})
    assert answer.status_code == 500
    record = yaml.safe_load(answer.text)
    assert record["status"]["state"] == "error" and "file not found" in record["status"]["error"]
    assert_no_secret(answer.text)


@pytest.mark.parametrize("body, content_type, status, message", [
    (b"{broken", "application/json", 400, "request body is not valid JSON or YAML"),
    (b"spec: [unclosed", "application/yaml", 400, "request body is not valid JSON or YAML"),
    (b'{"spec": {"parameters": ["p1", 5]}}', "application/json", 400, "spec.parameters must be a mapping, got list"),
    (b'{"metadata": {"labels": "a=b"}}', "application/json", 400, "metadata.labels must be a mapping, got str"),
    (b'{"spec": {"parameters": {"blob": "' + b"x" * 200_001 + b'"}}}', "application/json", 413,
     "request body is larger than the limit of 200000 bytes"),
])
def test_bad_requests_are_refused_naming_the_problem(seed_server, body, content_type, status, message):
    served, _ = seed_server
    answer = requests.post(served.url, data=body, headers={"Content-Type": content_type, "Accept": "application/json"})
    assert answer.status_code == status
    assert message in answer.json()["error"]
    plain = requests.post(served.url, data=body, headers={"Content-Type": content_type})
    assert plain.status_code == status and plain.text.startswith(message[:20]) and plain.text.count("\n") == 1


def test_plain_clients_get_yaml_or_json_and_health_is_answered(seed_server):
    served, work = seed_server
    body = {"spec": {"parameters": {"p1": 4}, "input_objects": [{"key": "infile.txt", "path": work.infile}]}}
    as_yaml = requests.post(served.url + "/any/path", json=body)
    assert as_yaml.status_code == 200 and as_yaml.headers["Content-Type"].startswith("application/yaml")
    assert yaml.safe_load(as_yaml.text)["status"]["outputs"] == {"accuracy": 8}
    as_json = requests.post(served.url, json=body, headers={"Accept": "application/json"})
    assert as_json.json()["status"]["state"] == "completed"
    assert requests.get(served.url + "/healthz").json() == {"status": "ok"}
    assert requests.get(served.url).status_code == 405


def test_the_seed_on_s3_saving_its_record_to_s3(seed_server, workdir, moto_server):
    served, _ = seed_server
    bucket = moto_server.make_bucket(SEED_BUCKET)
    moto_server.client().put_object(Bucket=bucket, Key="infile.txt", Body=INFILE_TEXT.encode())
    moto_server.secrets_file(workdir.secrets, ACCESS_KEY=ACCESS_KEY)
    # the seed's command line, with the function's URL
    result = mlrun_cli("run", "-p", "p1=5", "-s", "file=secrets.txt", "-i", f"infile.txt=s3://{bucket}/infile.txt",
                       "--uid", "remote0003", "--save-to", f"s3://{bucket}/runs/", served.url, cwd=workdir.path)
    assert result.returncode == 0, result.stderr
    assert f"file\nb{INFILE_TEXT!r}" in result.stdout
    saved = moto_server.client().get_object(Bucket=bucket, Key="runs/remote0003.yaml")["Body"].read().decode()
    record = RunRecord.from_text(saved)
    assert record == RunRecord.from_dict(get_run_db().read_run_data("remote0003"))
    assert record.status.input_objects[0]["url"] == f"s3://{bucket}/infile.txt"
    assert_no_secret(result.stdout, result.stderr, saved)
    assert moto_server.env["AWS_SECRET_ACCESS_KEY"] not in result.stdout + saved


def test_the_same_handler_runs_locally_and_remotely_with_equal_results(seed_server, workdir):
    served, _ = seed_server
    local = mlrun_cli("run", "--handler", "my_func", *seed_args(workdir, "--uid", "local0001", "--out-path",
                                                                 workdir.path + "/local"), SEED_HANDLERS,
                      cwd=workdir.path)
    remote = mlrun_cli("run", *seed_args(workdir, "--uid", "remote0004", "--out-path", workdir.path + "/remote"),
                       served.url, cwd=workdir.path)
    assert local.returncode == 0 and remote.returncode == 0, local.stderr + remote.stderr
    runs = [RunRecord.from_dict(get_run_db().read_run_data(uid)) for uid in ("local0001", "remote0004")]
    assert runs[0].outputs == runs[1].outputs == {"accuracy": 10}
    assert runs[0].status.metrics == runs[1].status.metrics
    assert runs[0].spec.parameters == runs[1].spec.parameters
    hashes = [[(a["key"], a["size"], a["sha256"]) for a in run.status.output_artifacts] for run in runs]
    assert hashes[0] == hashes[1] and hashes[0][0][0] == "test.txt"
    files = [Path(os.path.join(workdir.path, side, "test.txt")).read_bytes() for side in ("local", "remote")]
    assert files[0] == files[1] == b"abc is 123"
    assert runs[0].metadata.name == runs[1].metadata.name == "seed"
    logs = [get_run_db().read_log(uid).decode().splitlines() for uid in ("local0001", "remote0004")]
    assert logs[0][1:] == logs[1][1:] and "accesskey = ******" in logs[0]  # after the "Run: name (uid)" line


def test_the_seed_nuclio_handler_verbatim_with_a_token(workdir):
    env = {"MLRUN_FUNCTION_TOKEN": "s3cr3t-t0ken"}
    with serving(SEED_VERBATIM, cwd=workdir.path, env=env) as served:
        body = {"spec": {"parameters": {"p1": 2}}}
        missing = requests.post(served.url, json=body)
        wrong = requests.post(served.url, json=body, headers={"Authorization": "Bearer guess"})
        plain = requests.post(served.url, json=body, headers={"Authorization": "Bearer s3cr3t-t0ken"})
        without = mlrun_cli("run", *seed_args(workdir, "--uid", "nuclio0000"), served.url, cwd=workdir.path)
        result = mlrun_cli("run", *seed_args(workdir, "--uid", "nuclio0001"), served.url, cwd=workdir.path, env=env)
        output = served.stop()
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.headers["WWW-Authenticate"] == "Bearer" and "bearer token" in missing.text
    assert plain.status_code == 200 and yaml.safe_load(plain.text)["status"]["state"] == "running"  # the seed's answer
    assert without.returncode == 1 and "answered HTTP 401: missing or wrong bearer token" in without.stderr
    assert result.returncode == 0, result.stderr
    record = RunRecord.from_dict(get_run_db().read_run_data("nuclio0001"))
    assert record.state == "completed" and record.metadata.name == "myfunc" and record.outputs == {"accuracy": 10}
    assert [a["key"] for a in record.status.output_artifacts] == ["chart.png"]
    log = get_run_db().read_log("nuclio0001").decode()
    assert "[info] This is an unstructured log" in log and "accesskey = ******" in log
    access = [line for line in output.splitlines() if '"POST / HTTP/1.1"' in line]
    assert [line.split('"')[2].split()[0] for line in access] == ["401", "401", "200", "401", "200"]
    assert_no_secret(output, result.stdout, log)
    assert "s3cr3t-t0ken" not in output


@pytest.mark.parametrize("source, target, message", [
    (None, "missing.py", "file not found: missing.py"),
    ("def handler(ctx:\n", "bad.py", "bad.py:1: syntax error"),
    ("import no_such_module_here\ndef handler(context, event):\n    pass\n", "bad.py",
     "cannot load {path}: ModuleNotFoundError: No module named 'no_such_module_here'"),
    ("def handler():\n    pass\n", "bad.py", "bad.py:handler must take (ctx) or nuclio's (context, event)"),
    ("def handler(context, event):\n    pass\n", "bad.py:predict", "handler 'predict' not found in bad.py"),
])
def test_a_handler_that_cannot_be_served_is_named_in_one_line(tmp_path, monkeypatch, source, target, message):
    from mlrun.adapters.flask import load_handler
    from mlrun.errors import MLRunError

    monkeypatch.chdir(tmp_path)
    if source is not None:
        (tmp_path / "bad.py").write_text(source)
    with pytest.raises(MLRunError) as info:
        load_handler(target)
    assert message.format(path=tmp_path / "bad.py") in str(info.value) and "\n" not in str(info.value)


def test_serve_refuses_a_busy_port_and_a_missing_file_with_one_line(seed_server, tmp_path):
    served, _ = seed_server
    port = served.url.rsplit(":", 1)[1]
    busy = mlrun_cli("serve", f"{SEED_HANDLERS}:my_func", "--port", port, cwd=str(tmp_path))
    assert busy.returncode == 1
    assert busy.stderr.strip() == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"
    missing = mlrun_cli("serve", "nothing.py", cwd=str(tmp_path))
    assert missing.returncode == 2 and missing.stderr.strip().endswith("Error: file not found: nothing.py")


def test_worker_processes_share_the_port_and_stop_with_the_server(tmp_path):
    handler = tmp_path / "pid.py"
    handler.write_text("import os\n\ndef handler(ctx):\n    ctx.log_output('pid', os.getpid())\n")
    with serving(f"{handler}:handler", "--workers", "2", "--threads", "2", cwd=str(tmp_path)) as served:
        records = [None] * 16

        def call(i):
            records[i] = mlrun.run_function(served.url, params={"i": i}, stream=False)

        callers = [threading.Thread(target=call, args=(i,)) for i in range(16)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
        assert all(r.state == "completed" for r in records)
        pids = {r.outputs["pid"] for r in records}
        assert served.proc.pid not in pids  # the runs are served by the forked workers
        output = served.stop()
    assert "2 processes x 2 threads" in output
    for pid in pids:  # no worker outlives the server
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
