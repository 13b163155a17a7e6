"""A killed run server: workers die with their parent (the port is free for a new server at once), a killed
worker is replaced; and a write through a server whose answer was lost is the same record when retried."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
import requests
from helpers import free_port, pid_gone, poll, stop_process, wait_for_http

from faults.faultkit import children_of
from mlrun.errors import StoreError
from mlrun.run import new_run


def start_server(store: str, port: int, log_path: str) -> subprocess.Popen:
    with open(log_path, "a") as log:
        proc = subprocess.Popen([sys.executable, "-m", "mlrun", "server", "--port", str(port), "--store", store,
                                 "--threads", "2", "--workers", "2"], stdout=log, stderr=subprocess.STDOUT,
                                env={k: v for k, v in os.environ.items() if k != "MLRUN_TOKEN"})
    wait_for_http(f"http://127.0.0.1:{port}/healthz", proc)
    return proc


def test_workers_die_with_a_killed_server_and_a_killed_worker_is_replaced(tmp_path):
    store, port, log = str(tmp_path / "db"), free_port(), str(tmp_path / "server.log")
    proc = start_server(store, port, log)
    try:
        workers = poll(lambda: len(children_of(proc.pid)) == 2 and children_of(proc.pid), what="two workers")
        os.kill(workers[0], signal.SIGKILL)
        replaced = poll(lambda: len(children_of(proc.pid)) == 2 and workers[0] not in children_of(proc.pid)
                        and children_of(proc.pid), what="the killed worker replaced")
        assert requests.get(f"http://127.0.0.1:{port}/ready", timeout=5).json() == {"status": "ready"}
        with open(log) as fp:
            assert f"worker {workers[0]} ended (process killed by SIGKILL); starting another" in fp.read()
        os.kill(proc.pid, signal.SIGKILL)  # the parent alone
        proc.wait(10)
        poll(lambda: all(pid_gone(pid) for pid in replaced), timeout=10, what="the workers to exit with their parent")
    finally:
        stop_process(proc)
    again = start_server(store, port, log)  # the port is free: no orphan holds it
    stop_process(again)


@pytest.fixture
def proxied_server(tmp_path, proxy_to):
    from server.server_process import running_server

    with running_server(str(tmp_path / "served"), log_dir=str(tmp_path)) as server:
        yield server, proxy_to(urlsplit(server.url).port)


def test_a_write_through_a_server_reported_failed_but_stored_is_the_same_record_when_retried(proxied_server):
    from mlrun.rundb import get_run_db
    from mlrun.rundb.httpdb import HTTPRunDB

    server, proxy = proxied_server
    client = HTTPRunDB(f"http://127.0.0.1:{proxy.port}", deadline=1.0, retries=0)
    run = new_run(name="twice")
    run.start()
    proxy.drop_answers()
    with pytest.raises(StoreError, match="no answer within 1s"):
        client.store_run(run)
    behind = get_run_db(server.store)
    assert behind.read_run(run.uid).to_dict() == run.to_dict()  # it was stored
    proxy.heal()
    client.store_run(run)
    assert [r["uid"] for r in client.list_runs(iter=True)] == [run.uid]
    assert behind.read_run(run.uid).to_dict() == run.to_dict()
