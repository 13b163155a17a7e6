"""Fixtures of the fault tests: proxies, a PostgreSQL cluster of their own, a small file system that fills."""
from __future__ import annotations

import contextlib
import os
import subprocess
import uuid

import pytest

from faults.faultkit import FaultProxy, PGCluster


@pytest.fixture
def proxy_to():
    """``proxy_to(port)``: a ``FaultProxy`` to a local port, closed after the test."""
    made: list[FaultProxy] = []

    def make(port: int) -> FaultProxy:
        made.append(FaultProxy(port))
        return made[-1]

    yield make
    for proxy in made:
        proxy.close()


@pytest.fixture(scope="module")
def pg_cluster():
    cluster = PGCluster()
    cluster.start()
    yield cluster
    cluster.close()


@pytest.fixture
def pg(pg_cluster):
    """The module's cluster, running and healthy at the start of each test (and after it)."""
    if pg_cluster.proc is None or pg_cluster.proc.poll() is not None:
        pg_cluster.start()
    pg_cluster.thaw()
    pg_cluster.proxy.heal()
    yield pg_cluster
    with contextlib.suppress(Exception):
        pg_cluster.thaw()


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(size)``: a fresh tmpfs of ``size`` (e.g. "1m") mounted in the test's folder, unmounted after
    (the tests run as root); its path."""
    mounted: list[str] = []

    def make(size: str) -> str:
        path = str(tmp_path / f"disk-{uuid.uuid4().hex[:6]}")
        os.makedirs(path)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path], check=True)
        mounted.append(path)
        return path

    yield make
    for path in mounted:
        subprocess.run(["umount", "-l", path], check=False)
