"""No run stays ``running`` once its process is gone, on every store kind: a running run sends a heartbeat, a
run whose launcher and child were both killed is recorded as ``error`` when next seen (a listing, ``mlrun get
run``, the server's periodic check), and a run's end the store could not take is kept and delivered later."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from contextlib import ExitStack

import pytest
from helpers import mlrun_cli, pid_gone, poll

from mlrun.rundb import get_run_db
from mlrun.rundb.liveness import PROCESS_GONE

HEARTBEAT = {"MLRUN_HEARTBEAT_INTERVAL": "0.3", "MLRUN_STALE_AFTER": "3"}  # a busy machine starts a child slowly
GATED = """\
import os, sys, time
print("ready", os.getpid(), flush=True)
while not os.path.exists(sys.argv[1]):  # the test creates it when it is done with this run
    time.sleep(0.02)
print("done", flush=True)
"""


@pytest.fixture(params=["directory", "s3", "postgresql", "server"])
def store(request, tmp_path, monkeypatch):
    """``(url the runs use, url to read the records behind it, environment)`` for each store kind; a server
    checks its store every 0.3 s."""
    env = dict(HEARTBEAT)
    with ExitStack() as stack:
        if request.param == "directory":
            url = direct = str(tmp_path / "db")
        elif request.param == "s3":
            server = request.getfixturevalue("moto_server")
            env.update(server.env)
            url = direct = f"s3://{server.make_bucket()}/runs"
        elif request.param == "postgresql":
            url = direct = request.getfixturevalue("pg").new_database()
        else:
            from server.server_process import running_server

            direct = str(tmp_path / "served")
            server = stack.enter_context(running_server(direct, log_dir=str(tmp_path), env={
                **HEARTBEAT, "MLRUN_SERVER_CHECK_INTERVAL": "0.3"}))
            url = server.url
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield url, direct, request.param
    get_run_db(url).close()


def start_gated(tmp_path, url: str):
    script = tmp_path / "gated.py"
    script.write_text(GATED)
    gate = tmp_path / f"gate-{uuid.uuid4().hex[:6]}"
    uid = uuid.uuid4().hex
    proc = subprocess.Popen([sys.executable, "-m", "mlrun", "run", "--db", url, "--uid", uid, str(script), str(gate)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MLRUN_LOG_FLUSH_INTERVAL": "0.2"})
    line = proc.stdout.readline()
    assert line.startswith("ready"), (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc, uid, gate, int(line.split()[1])


def stored(url: str, uid: str) -> dict:
    return get_run_db(url).read_run_data(uid)  # as stored: reading the data marks nothing


def test_a_run_whose_launcher_and_child_were_killed_is_recorded_as_error_when_next_seen(store, tmp_path):
    url, direct, kind = store
    proc, uid, gate, child = start_gated(tmp_path, url)
    try:
        first = stored(direct, uid)
        assert first["status"]["state"] == "running" and first["metadata"]["annotations"]["mlrun/heartbeat"] == "0.3"
        # alive longer than the staleness: its heartbeat keeps it running, whoever looks
        from datetime import datetime

        def seconds_alive() -> float:
            status = stored(direct, uid)["status"]
            return (datetime.fromisoformat(status["last_update"]) -
                    datetime.fromisoformat(status["start_time"])).total_seconds()

        poll(lambda: seconds_alive() > 3.5, what="heartbeats past the staleness")
        listed = json.loads(mlrun_cli("get", "runs", "--db", url, "-o", "json").stdout)
        assert [r["state"] for r in listed if r["uid"] == uid] == ["running"]
        os.kill(proc.pid, signal.SIGKILL)
        os.kill(child, signal.SIGKILL)
        poll(lambda: pid_gone(child), what="the child to die")
        proc.wait(10)
        assert stored(direct, uid)["status"]["state"] == "running"  # nobody recorded the end
        if kind == "server":  # the server's periodic check finds it, with nobody looking
            poll(lambda: stored(direct, uid)["status"]["state"] == "error", timeout=15, what="the periodic check")
        else:  # the next listing finds it
            def listed_state() -> str:
                runs = json.loads(mlrun_cli("get", "runs", "--db", url, "-o", "json").stdout)
                return next(r["state"] for r in runs if r["uid"] == uid) == "error"

            poll(listed_state, timeout=15, what="a listing to mark the run")
        status = stored(direct, uid)["status"]
        assert status["error"].startswith(PROCESS_GONE) and "no heartbeat since" in status["error"]
    finally:
        gate.write_text("")
        for pid in (proc.pid, child):
            if not pid_gone(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait(10)


def test_mlrun_get_run_marks_a_run_whose_process_is_gone(tmp_path, monkeypatch):
    for key, value in HEARTBEAT.items():
        monkeypatch.setenv(key, value)
    url = str(tmp_path / "db")
    proc, uid, gate, child = start_gated(tmp_path, url)
    os.kill(proc.pid, signal.SIGKILL)
    os.kill(child, signal.SIGKILL)
    proc.wait(10)
    gate.write_text("")

    def state() -> str:
        return json.loads(mlrun_cli("get", "run", uid, "--db", url, "-o", "json").stdout)["status"]["state"]

    poll(lambda: state() == "error", timeout=15, what="mlrun get run to mark the run")
    assert stored(url, uid)["status"]["error"].startswith(PROCESS_GONE)


def test_a_run_end_the_store_could_not_take_is_kept_and_delivered_by_the_next_command(moto_server, proxy_to,
                                                                                     tmp_path, monkeypatch):
    from urllib.parse import urlsplit

    proxy = proxy_to(urlsplit(moto_server.endpoint_url).port)
    bucket = moto_server.make_bucket()
    env = {**moto_server.env, "S3_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}", "AWS_MAX_ATTEMPTS": "1",
           "MLRUN_S3_CONNECT_TIMEOUT": "1", "MLRUN_S3_READ_TIMEOUT": "1", "MLRUN_FINAL_WRITE_TIMEOUT": "1"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    url = f"s3://{bucket}/runs"
    proc, uid, gate, _child = start_gated(tmp_path, url)
    proxy.cut()  # the endpoint is lost while the run goes on
    gate.write_text("")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    said = [line for line in err.splitlines() if f"the run store could not record the end of run {uid}" in line]
    assert said and all("mlrun-home/spool/" in line and "cannot reach S3" in line for line in said), err
    assert "Traceback" not in err
    direct = {**env, "S3_ENDPOINT_URL": moto_server.endpoint_url}
    behind = subprocess.run([sys.executable, "-c", "import sys; from mlrun.rundb import get_run_db; "
                             "print(get_run_db(sys.argv[1]).read_run_data(sys.argv[2])['status']['state'])", url, uid],
                            capture_output=True, text=True, env={**os.environ, **direct, "MLRUN_HOME": "/nonexistent"})
    assert behind.stdout.strip() == "running"  # what the store holds until the end is delivered
    proxy.heal()
    listed = mlrun_cli("get", "runs", "--db", url, "-o", "json")  # the next command delivers it first
    assert listed.returncode == 0, listed.stderr
    assert [r["state"] for r in json.loads(listed.stdout) if r["uid"] == uid] == ["completed"]
    assert b"done" in get_run_db(url).read_log(uid)
    assert not list((tmp_path / "mlrun-home" / "spool").rglob("*.json"))
