"""Fixtures for the run server: a real ``mlrun server`` process on 127.0.0.1 over a temporary store."""
from __future__ import annotations

import pytest
from server_process import TOKEN, running_server


def session_artifact_root(tmp_path_factory) -> str:
    """Where the tests' artifacts are: every ``tmp_path`` of this test session."""
    return str(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(str(tmp_path_factory.mktemp("server") / "store"),
                        args=("--artifact-root", session_artifact_root(tmp_path_factory))) as srv:
        yield srv


@pytest.fixture(scope="module")
def token_server(tmp_path_factory):
    with running_server(str(tmp_path_factory.mktemp("token-server") / "store"), token=TOKEN,
                        args=("--artifact-root", session_artifact_root(tmp_path_factory))) as srv:
        yield srv
