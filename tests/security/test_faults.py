"""Faults that must not lose or hide data: killed launchers, big specs, secrets kept out of child
environments, launch failures, S3 commits cut in half, S3 errors and multipart uploads.

Everything runs for real: ``mlrun run`` processes, a moto S3 server, an ``mlrun server``.  Scripts
signal readiness by printing a line the test reads, and wait for a file the test creates.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from helpers import mlrun_cli, pid_gone, poll

GATED_SCRIPT = """\
import os, sys, time
print("some output on stderr", file=sys.stderr, flush=True)
print("ready", os.getpid(), flush=True)
gate = sys.argv[1]
while not os.path.exists(gate):  # the test creates it when it is done with this process's launcher
    time.sleep(0.02)
print("after the gate", flush=True)
"""


def read_run(dbpath: str, uid: str) -> dict:
    from mlrun.rundb import get_run_db

    return get_run_db(dbpath).read_run_data(uid)


def read_log(dbpath: str, uid: str) -> bytes:
    from mlrun.rundb import get_run_db

    return get_run_db(dbpath).read_log(uid)


def start_gated_run(tmp_path, dbpath: str, *extra: str, env: dict | None = None):
    """``mlrun run`` of GATED_SCRIPT; returns (launcher process, uid, gate path, child pid) once it is ready."""
    script = tmp_path / "gated.py"
    script.write_text(GATED_SCRIPT)
    gate = str(tmp_path / f"gate-{uuid.uuid4().hex[:6]}")
    uid = uuid.uuid4().hex
    proc = subprocess.Popen([sys.executable, "-m", "mlrun", "run", "--db", dbpath, "--uid", uid, *extra,
                             str(script), gate], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "MLRUN_LOG_FLUSH_INTERVAL": "0.2", **(env or {})})
    line = proc.stdout.readline().decode()
    assert line.startswith("ready"), (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc, uid, gate, int(line.split()[1])


# -- a killed launcher --------------------------------------------------------------------------------

def test_a_launcher_killed_by_sigkill_leaves_the_log_so_far_and_the_child_finishes_its_run(tmp_path):
    dbpath = str(tmp_path / "db")
    proc, uid, gate, child_pid = start_gated_run(tmp_path, dbpath)
    try:
        # appended while the run goes, not only at the end
        poll(lambda: b"ready" in read_log(dbpath, uid), what="the output in the store while running")
        assert read_run(dbpath, uid)["status"]["state"] == "running"
        proc.kill()
        proc.wait(10)
        assert not pid_gone(child_pid)  # the child outlives its launcher
        open(gate, "w").close()
        record = poll(lambda: (r := read_run(dbpath, uid))["status"]["state"] != "running" and r,
                      what="the child's final commit")
    finally:
        open(gate, "a").close()
        proc.stdout.close()
        proc.stderr.close()
    # its true final state: not an error from a broken pipe
    assert record["status"]["state"] == "completed", record["status"]
    log = poll(lambda: (data := read_log(dbpath, uid)) and b"launcher ended" in data and data,
               what="the note that the launcher ended")
    assert log.count(b"ready %d\n" % child_pid) == 1 and b"some output on stderr" in log
    assert b"BrokenPipeError" not in log
    poll(lambda: pid_gone(child_pid), what="the child to end")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_launcher_stopped_by_a_signal_records_error_with_the_log_and_stops_the_child(tmp_path, signum):
    dbpath = str(tmp_path / "db")
    proc, uid, gate, child_pid = start_gated_run(tmp_path, dbpath)
    try:
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        open(gate, "a").close()
    assert proc.returncode != 0
    record = read_run(dbpath, uid)
    assert record["status"]["state"] == "error"
    assert record["status"]["error"] == f"interrupted by {signum.name}"
    # one line from the launcher, no traceback of its own (the code's KeyboardInterrupt is in the run's log)
    ours = err.decode().split(f"mlrun: run {uid} interrupted by {signum.name}\n", 1)
    assert len(ours) == 2 and "Traceback" not in ours[1] and "mlrun/" not in ours[0]
    log = read_log(dbpath, uid)
    assert log.count(b"ready %d\n" % child_pid) == 1 and b"some output on stderr" in log
    assert b"after the gate" not in log
    assert pid_gone(child_pid)


def test_a_child_that_ignores_the_signal_is_killed_after_the_stop_timeout(tmp_path):
    script = tmp_path / "stubborn.py"
    script.write_text("import os, signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                      "print('ready', os.getpid(), flush=True)\nwhile not os.path.exists(sys.argv[1]):\n"
                      "    time.sleep(0.02)\n")
    gate = str(tmp_path / "never")
    dbpath = str(tmp_path / "db")
    uid = uuid.uuid4().hex
    proc = subprocess.Popen([sys.executable, "-m", "mlrun", "run", "--db", dbpath, "--uid", uid, str(script), gate],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "MLRUN_STOP_TIMEOUT": "0.5"})
    child_pid = int(proc.stdout.readline().split()[1])
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert proc.returncode != 0 and pid_gone(child_pid)
    assert read_run(dbpath, uid)["status"]["error"] == "interrupted by SIGTERM"


# -- logs appended while running, stored once -------------------------------------------------------

LINES_SCRIPT = """\
import sys
for i in range(3000):
    print(f"line {i:05d} " + "x" * 60)
    if i % 500 == 0:
        print(f"err {i}", file=sys.stderr)
"""


@pytest.fixture(params=["file", "s3", "http"])
def any_store(request, tmp_path):
    if request.param == "file":
        yield str(tmp_path / "db")
    elif request.param == "s3":
        server = request.getfixturevalue("s3_env")
        yield f"s3://{server.make_bucket()}/runs"
    else:
        from server.server_process import running_server

        with running_server(str(tmp_path / "served")) as server:
            yield server.url


def test_the_final_store_holds_the_whole_log_exactly_once(tmp_path, any_store, monkeypatch):
    script = tmp_path / "lines.py"
    script.write_text(LINES_SCRIPT)
    # batches on size as well as on time: 3000 lines of ~70 bytes are several 64 KiB appends
    monkeypatch.setenv("MLRUN_LOG_FLUSH_INTERVAL", "0.05")
    from mlrun.run import run_function

    record = run_function(str(script), rundb=any_store, stream=False)
    assert record.state == "completed"
    log = read_log(any_store, record.uid).decode()
    lines = [line for line in log.splitlines() if line.startswith("line ")]
    assert lines == [f"line {i:05d} " + "x" * 60 for i in range(3000)]
    assert sum(line.startswith("err ") for line in log.splitlines()) == 6


# -- big specs and secrets out of the environment ---------------------------------------------------

def test_a_spec_far_over_the_argument_limit_runs(tmp_path):
    script = tmp_path / "sizes.py"
    script.write_text("import mlrun\nctx = mlrun.get_or_create_ctx('sizes')\n"
                      "print('total', sum(len(ctx.get_param(f'p{i}')) for i in range(10)))\n")
    params = [arg for i in range(10) for arg in ("-p", f"p{i}=" + "v" * 100_000)]  # a 1 MB spec, 100 KB per argument
    proc = mlrun_cli("run", "-q", *params, str(script))
    assert proc.returncode == 0, proc.stderr
    from mlrun.rundb import get_run_db

    run = get_run_db().list_runs()[0]
    assert run["state"] == "completed"
    assert b"total 1000000" in get_run_db().read_log(run["uid"])


def test_a_one_mebibyte_parameter_reaches_the_code(tmp_path):
    from mlrun.run import run_function

    script = tmp_path / "big.py"
    script.write_text("import mlrun\nctx = mlrun.get_or_create_ctx('big')\n"
                      "ctx.log_output('size', len(ctx.get_param('big')))\n")
    record = run_function(str(script), params={"big": "b" * (1 << 20)}, stream=False)
    assert record.state == "completed" and record.outputs["size"] == 1 << 20


SECRET = "inline-secret-value-7c1e"

ENV_SCRIPT = f"""\
import json, os, subprocess, sys
import mlrun
ctx = mlrun.get_or_create_ctx("env")
assert ctx.get_secret("TOKEN") == "{SECRET}"  # the code still gets it
with open(sys.argv[1], "w") as fp:
    json.dump(dict(os.environ), fp)
subprocess.run([sys.executable, "-c", "import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], 'w'))",
                sys.argv[2]], check=True)
"""


def test_inline_secrets_reach_the_code_but_no_environment(tmp_path):
    from mlrun.run import run_function

    script = tmp_path / "env.py"
    script.write_text(ENV_SCRIPT)
    child_env, grandchild_env = tmp_path / "child.json", tmp_path / "grandchild.json"
    record = run_function(str(script), args=[str(child_env), str(grandchild_env)], secrets={"TOKEN": SECRET},
                          stream=False)
    assert record.state == "completed", record.status.error
    for path in (child_env, grandchild_env):
        env = json.loads(path.read_text())
        assert not [k for k, v in env.items() if SECRET in v or SECRET in k]
        assert not {"MLRUN_EXEC_SECRETS", "MLRUN_EXEC_CONFIG", "MLRUN_EXEC_CONFIG_FD"} & set(env)


def test_the_environment_channel_still_works_for_other_launchers(tmp_path):
    script = tmp_path / "envspec.py"
    script.write_text("import mlrun\nctx = mlrun.get_or_create_ctx('x')\nctx.log_output('tok', ctx.get_secret('T'))\n")
    spec = {"metadata": {"uid": "from-env-launcher", "name": "envspec"}}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "MLRUN_EXEC_CONFIG": json.dumps(spec),
                               "MLRUN_EXEC_SECRETS": json.dumps({"T": "v"})})
    assert proc.returncode == 0, proc.stderr
    assert read_run(os.environ["MLRUN_DBPATH"], "from-env-launcher")["status"]["state"] == "completed"


# -- launch failures --------------------------------------------------------------------------------

def test_a_missing_interpreter_fails_the_run_not_leaves_it_created(tmp_path):
    script = tmp_path / "fine.py"
    script.write_text("print('never runs')\n")
    uid = uuid.uuid4().hex
    launcher = ("import sys; sys.executable = '/nonexistent/python3'; sys.argv = ['mlrun'] + sys.argv[1:];"
                " from mlrun.cli import main; main()")
    proc = subprocess.run([sys.executable, "-c", launcher, "run", "-q", "--uid", uid, str(script)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    record = read_run(os.environ["MLRUN_DBPATH"], uid)
    assert record["status"]["state"] == "error"
    assert record["status"]["error"] \
        == "cannot start the run's process (/nonexistent/python3): No such file or directory"
    assert proc.stderr.strip().splitlines()[-1] == f"Error: run {uid} failed: {record['status']['error']}"
    assert "Traceback" not in proc.stderr


def test_a_popen_failure_is_recorded_as_error(tmp_path, monkeypatch):
    import errno

    from mlrun.run import run_function
    from mlrun.runtimes import local

    def refuse(*args, **kwargs):
        raise OSError(errno.E2BIG, os.strerror(errno.E2BIG))

    monkeypatch.setattr(local.subprocess, "Popen", refuse)
    script = tmp_path / "fine.py"
    script.write_text("print('never runs')\n")
    record = run_function(str(script), stream=False)
    assert record.state == "error" and record.status.error.endswith(os.strerror(errno.E2BIG))
    assert read_run(os.environ["MLRUN_DBPATH"], record.uid)["status"]["state"] == "error"


# -- S3 run store: a commit cut between its two writes ------------------------------------------------

S3_WRITER = """\
import os, sys
sys.path.insert(0, %(tests)r)
from rundb_contract import make_record
from mlrun.rundb.s3db import S3RunDB

url, mode = sys.argv[1], sys.argv[2]
db = S3RunDB(url)
if mode == "stale":  # committed once whole (running), then the final record lands and the summary does not
    db.store_run(make_record("stale-run", state="running"))
# the fault: the process dies right after the record write, before the summary write
S3RunDB._put_summary = lambda *args, **kwargs: os._exit(9)
db.store_run(make_record("new-run" if mode == "new" else "stale-run", state="completed"))
sys.exit("the fault was not injected")
"""


def test_an_s3_commit_killed_between_record_and_summary_hides_nothing(moto_server, tmp_path):
    from helpers import ROOT

    url = f"s3://{moto_server.make_bucket()}/store"
    writer = tmp_path / "writer.py"
    writer.write_text(S3_WRITER % {"tests": os.path.join(ROOT, "tests")})
    env = {**os.environ, **moto_server.env}
    for mode in ("new", "stale"):
        proc = subprocess.run([sys.executable, str(writer), url, mode], capture_output=True, text=True, env=env,
                              timeout=60)
        assert proc.returncode == 9, proc.stderr
    client = moto_server.client()
    bucket = url.split("/")[2]
    summary_keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="store/summaries/")["Contents"]}
    assert summary_keys == {"store/summaries/stale-run/0.json"}  # the faults happened as intended

    # a fresh process lists both, each in its current state
    listed = mlrun_cli("get", "runs", "--db", url, "-o", "json", env=moto_server.env)
    assert listed.returncode == 0, listed.stderr
    states = {run["uid"]: run["state"] for run in json.loads(listed.stdout)}
    assert states == {"new-run": "completed", "stale-run": "completed"}
    # and the summaries were repaired on the way
    for uid in ("new-run", "stale-run"):
        summary = json.loads(client.get_object(Bucket=bucket, Key=f"store/summaries/{uid}/0.json")["Body"].read())
        assert summary["state"] == "completed"


def test_s3_listings_show_updates_within_the_same_second(s3_env):
    """Timestamps cannot tell a stale summary when both commits fall in one second: ETags can."""
    from rundb_contract import make_record

    from mlrun.rundb.s3db import S3RunDB

    db = S3RunDB(f"s3://{s3_env.make_bucket()}/same-second")
    db.store_run(make_record("u1", state="running"))
    stale = s3_env.client().get_object(Bucket=db.store.bucket, Key="same-second/summaries/u1/0.json")["Body"].read()
    db.store_run(make_record("u1", state="completed"))
    s3_env.client().put_object(Bucket=db.store.bucket, Key="same-second/summaries/u1/0.json", Body=stale)
    assert [r["state"] for r in db.list_runs()] == ["completed"]
    assert "_record_etag" not in db.list_runs()[0]


# -- S3 errors and multipart uploads --------------------------------------------------------------------

MB = 1024 * 1024


@pytest.fixture(scope="module")
def auth_s3(tmp_path_factory):
    """A private moto server that checks signatures, with one IAM user allowed to use S3."""
    from s3server import running_auth_moto_server

    with running_auth_moto_server(str(tmp_path_factory.mktemp("moto")), user="writer") as server:
        yield server


def test_s3_upload_with_a_wrong_secret_key_is_one_line_naming_url_and_endpoint(auth_s3, small_parts, tmp_path):
    from mlrun.datastore import get_item
    from mlrun.errors import StoreError

    good = auth_s3.env
    get_item("s3://auth-faults/k", good).store.client.create_bucket(Bucket="auth-faults")
    wrong = dict(good, AWS_SECRET_ACCESS_KEY="wrong-secret-key-value-0000")
    small, big = tmp_path / "small.bin", tmp_path / "big.bin"
    small.write_bytes(b"x" * 100)
    big.write_bytes(os.urandom(6 * MB))  # multipart: boto3 raised S3UploadFailedError with its own text
    for path in (small, big):
        with pytest.raises(StoreError) as err:
            get_item("s3://auth-faults/k", wrong).upload(str(path))
        assert str(err.value) == (f"access denied to s3://auth-faults/k at {auth_s3.endpoint_url} "
                                  "(SignatureDoesNotMatch): check the AWS credentials")
    with pytest.raises(StoreError) as err:
        get_item("s3://auth-faults/k", wrong).get()
    assert str(err.value).startswith(f"access denied to s3://auth-faults/k at {auth_s3.endpoint_url} (")


def open_uploads(server, bucket: str) -> list[str]:
    return [u["UploadId"] for u in server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def failing_progress(monkeypatch, action, after: int = 5 * MB):
    """Make the transfer's progress callback run ``action()`` once ``after`` bytes went up (mid-upload)."""

    from mlrun.datastore import s3

    sent = [0]

    def update(nbytes):
        sent[0] += nbytes
        if sent[0] >= after:
            action()

    monkeypatch.setattr(s3, "transfer_progress", lambda desc, size: contextlib.nullcontext(update))


def test_a_failing_multipart_upload_leaves_no_parts(moto_server, small_parts, monkeypatch, tmp_path):
    from mlrun.datastore import get_item

    bucket = moto_server.make_bucket()
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(16 * MB))

    def fail():
        raise RuntimeError("disk went away")

    failing_progress(monkeypatch, fail)
    with pytest.raises(Exception, match="disk went away"):
        get_item(f"s3://{bucket}/big.bin", moto_server.env).upload(str(src))
    assert open_uploads(moto_server, bucket) == []


def test_an_interrupted_multipart_upload_is_aborted(moto_server, small_parts, monkeypatch, tmp_path):
    import _thread

    from mlrun.datastore import get_item

    bucket = moto_server.make_bucket()
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(16 * MB))
    # what Ctrl-C does: KeyboardInterrupt in the main thread; once, as a person presses it (a second one,
    # arriving while the failed upload is being aborted, would interrupt the abort: another test)
    pressed = []
    failing_progress(monkeypatch, lambda: pressed or (pressed.append(True), _thread.interrupt_main()))
    with pytest.raises(KeyboardInterrupt):
        get_item(f"s3://{bucket}/big.bin", moto_server.env).upload(str(src))
    assert open_uploads(moto_server, bucket) == []


def test_a_multipart_upload_to_a_lost_endpoint_names_what_may_remain(moto_server, small_parts, monkeypatch,
                                                                     tmp_path):
    from urllib.parse import urlsplit

    from mlrun.datastore import get_item
    from mlrun.errors import StoreError

    bucket = moto_server.make_bucket()
    from faults.faultkit import FaultProxy

    proxy = FaultProxy(urlsplit(moto_server.endpoint_url).port)
    endpoint = f"http://127.0.0.1:{proxy.port}"
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("MLRUN_S3_ABORT_TIMEOUT", "2")
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(16 * MB))
    failing_progress(monkeypatch, proxy.cut)
    started = time.monotonic()
    with pytest.raises(StoreError) as err:
        get_item(f"s3://{bucket}/big.bin", dict(moto_server.env, S3_ENDPOINT_URL=endpoint)).upload(str(src))
    assert time.monotonic() - started < 30
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"cannot reach S3 at {endpoint} for s3://{bucket}/big.bin: ")
    # the upload the server still holds is the one the message names, with how to find it
    (upload_id,) = open_uploads(moto_server, bucket)
    assert f"an incomplete multipart upload may remain (upload id {upload_id})" in message
    assert f"aws s3api list-multipart-uploads --bucket {bucket} --prefix big.bin" in message
    moto_server.client().abort_multipart_upload(Bucket=bucket, Key="big.bin", UploadId=upload_id)


def test_a_child_that_never_reads_its_spec_fails_the_run(tmp_path, monkeypatch):
    """The pipe write fails (the child ended without reading a spec larger than the pipe holds)."""
    import shutil

    from mlrun.run import run_function

    monkeypatch.setattr(sys, "executable", shutil.which("false"))
    script = tmp_path / "fine.py"
    script.write_text("print('never runs')\n")
    record = run_function(str(script), params={"big": "b" * (1 << 20)}, stream=False)
    assert record.state == "error"
    assert record.status.error == "cannot hand the run spec to its process: Broken pipe"
    assert read_run(os.environ["MLRUN_DBPATH"], record.uid)["status"]["state"] == "error"


def test_a_bad_log_interval_is_a_usage_error_before_anything_is_recorded(tmp_path):
    script = tmp_path / "fine.py"
    script.write_text("print('never runs')\n")
    proc = mlrun_cli("run", str(script), env={"MLRUN_LOG_FLUSH_INTERVAL": "soon"})
    assert proc.returncode == 2 and "MLRUN_LOG_FLUSH_INTERVAL='soon' is not a number of seconds" in proc.stderr
    from mlrun.rundb import get_run_db

    assert get_run_db().list_runs() == []
