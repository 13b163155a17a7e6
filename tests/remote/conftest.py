"""Fixtures for the remote-function tests (helpers in ``remote_helpers``)."""
from collections.abc import Iterator

import pytest
from remote_helpers import SEED_BUCKET, SEED_HANDLERS, Served, Workdir, serving


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """Code run in process writes its artifacts to the working directory: never the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def workdir(tmp_path) -> Workdir:
    """A folder with the seed's inputs."""
    return Workdir(str(tmp_path))


@pytest.fixture(scope="module")
def seed_server(tmp_path_factory, moto_server) -> Iterator[tuple[Served, Workdir]]:
    """``mlrun serve handlers/seed.py:my_func``, shared by a module's tests, in a folder with the seed's inputs,
    allowed to use the tests' temp folders and ``s3://SEED_BUCKET`` on the moto server's (loopback) endpoint."""
    work = Workdir(str(tmp_path_factory.mktemp("served")))
    # callers name inputs and output paths in their own temp folders, and a bucket on the moto server (loopback):
    # an endpoint a request names, with its own credentials, must be allowed (or public)
    allow = ("--allow", str(tmp_path_factory.getbasetemp()), "--allow", f"s3://{SEED_BUCKET}",
             "--allow", moto_server.endpoint_url)
    with serving(f"{SEED_HANDLERS}:my_func", "--max-body-size", "200000", *allow, cwd=work.path) as served:
        yield served, work
