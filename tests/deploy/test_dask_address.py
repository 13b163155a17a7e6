"""Sweeps on a Dask cluster joined by address: a real scheduler and worker on 127.0.0.1, the worker in
another working directory; paths resolved on the caller's side and the script shipped with each task."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import yaml
from helpers import free_port, mlrun_cli, stop_process

SCRIPT = """\
import os
from mlrun import get_or_create_ctx

ctx = get_or_create_ctx("trainer")
p1 = ctx.get_param("p1", 1)
print(f"p1={p1} cwd={os.getcwd()} token={ctx.get_secret('TOKEN')}")
ctx.log_output("accuracy", p1 * 2)
ctx.log_output("data", ctx.get_object("data").get(encoding="utf-8").strip())
ctx.log_artifact("model.txt", body=f"model {p1}")
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """``dask scheduler`` and one ``dask worker`` (its own working directory) on 127.0.0.1."""
    from distributed import Client

    dask = os.path.join(os.path.dirname(sys.executable), "dask")
    worker_dir = tmp_path_factory.mktemp("worker")
    address = f"tcp://127.0.0.1:{free_port()}"
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                  "--no-dashboard"], cwd=str(tmp_path_factory.mktemp("scheduler")),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "2", "--nworkers", "1",
                               "--no-dashboard", "--local-directory", str(worker_dir)], cwd=str(worker_dir),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        client = None
        while time.monotonic() < deadline:  # poll the scheduler until the worker has joined
            try:
                client = client or Client(address, timeout="2s")
                if client.nthreads():
                    break
            except OSError:
                pass
            assert scheduler.poll() is None and worker.poll() is None, "the scheduler or the worker exited"
            time.sleep(0.2)
        else:
            raise AssertionError("the worker did not join the scheduler within 60s")
        client.close()
        yield address, worker_dir
    finally:
        stop_process(worker)
        stop_process(scheduler)


def test_relative_script_input_and_out_path_are_the_callers(cluster, tmp_path):
    address, worker_dir = cluster
    caller = tmp_path / "caller"
    caller.mkdir()
    (caller / "train.py").write_text(SCRIPT)
    (caller / "data.txt").write_text("caller's data\n")
    (caller / "secrets.txt").write_text("TOKEN=dask-token-5e7a1c\n")
    result = mlrun_cli("run", "--dask", address, "-x", "p1=[1,2,3]", "--selector", "max.accuracy",
                       "-i", "data=data.txt", "-s", "file=secrets.txt", "--out-path", "out", "train.py",
                       cwd=str(caller), env={"MLRUN_DBPATH": str(tmp_path / "db")}, timeout=180)
    assert result.returncode == 0, result.stderr
    record = yaml.safe_load(result.stdout)
    assert record["status"]["state"] == "completed", record["status"]
    assert record["status"]["outputs"] == {"best_iteration": 3, "accuracy": 6, "data": "caller's data"}
    rows = record["status"]["iterations"][1:]
    assert [row[0] for row in rows] == ["completed"] * 3
    for n in (1, 2, 3):  # each iteration's artifact in the caller's --out-path, none in the worker's directory
        assert (caller / "out" / str(n) / "model.txt").read_text() == f"model {n}"
    assert record["spec"]["default_output_path"] == str(caller / "out")
    assert not any(name == "out" or name.endswith(".txt") for name in os.listdir(worker_dir))
    assert "dask-token-5e7a1c" not in result.stdout + result.stderr


def test_a_worker_that_cannot_see_the_file_runs_the_shipped_script(cluster, tmp_path):
    from distributed import Client

    from mlrun.hyper.executors import ShippedScript
    from mlrun.run import new_run
    from mlrun.secrets import SecretsStore

    address, worker_dir = cluster
    script = tmp_path / "gone.py"
    script.write_text(SCRIPT.replace('ctx.get_object("data").get(encoding="utf-8").strip()', '"no input"'))
    shipped = ShippedScript(str(script))  # on the caller's side: the content is read here
    script.unlink()  # ... and the worker cannot find the file any more
    record = new_run(params={"p1": 4}, out_path=str(tmp_path / "out"), command=str(script), kind="local")
    record.metadata.iteration = 1
    with Client(address, timeout="10s") as client:
        outcome = client.submit(shipped.run, record, SecretsStore(), str(tmp_path / "db"), pure=False).result(120)
    assert outcome.record.status.state == "completed", outcome.record.status.error
    assert outcome.record.status.outputs["accuracy"] == 8
    assert outcome.record.spec.runtime["command"] == str(script)  # named as the caller knows it
    assert (tmp_path / "out" / "model.txt").read_text() == "model 4"
    assert f"cwd={worker_dir}" in outcome.log.decode()
