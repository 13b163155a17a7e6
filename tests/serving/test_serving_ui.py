"""The web UI's page of a model shows the command that serves it, and that command serves it: a real `mlrun server`,
headless chromium, then `mlrun serve-model` resolving the URI through the same server."""
from __future__ import annotations

import shlex
import sys

import pytest
import requests
from chromium import headless_chromium, quit_chromium
from remote_helpers import serving
from selenium.webdriver.common.by import By
from server_process import running_server
from serving_helpers import log_iris_model, sample_rows

import mlrun.rundb


@pytest.fixture
def browser():
    driver = headless_chromium()
    yield driver
    quit_chromium(driver)


def test_a_models_page_shows_the_command_that_serves_it(tmp_path, browser):
    with running_server(str(tmp_path / "store"), args=("--artifact-root", str(tmp_path))) as server:
        mlrun.rundb._cache.clear()
        model, uri = log_iris_model(rundb=server.url, artifact_path=str(tmp_path / "artifacts"))
        browser.get(f"{server.url}/artifacts/serving/iris")
        command = browser.find_element(By.ID, "serve-command").text
        assert command == f"mlrun serve-model {uri}"
        rows = sample_rows()
        words = [sys.executable, "-m", *shlex.split(command)]
        with serving("", cwd=str(tmp_path), command=words, env={"MLRUN_DBPATH": server.url}) as served:
            answer = requests.post(served.url + "/v2/models/iris/infer", json={"inputs": rows}, timeout=10)
        mlrun.rundb._cache.clear()
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"] == model.predict(rows).tolist()
