"""A server started plainly in the folder where runs wrote their artifacts: the run page says which command serves
them, and that command does (a real ``mlrun server`` and a headless chromium)."""
from __future__ import annotations

import os
import shlex

import pytest
from chromium import headless_chromium, quit_chromium
from helpers import mlrun_cli
from selenium.webdriver.common.by import By
from server_process import running_server

SCRIPT = """from mlrun import get_or_create_ctx

ctx = get_or_create_ctx("report")
ctx.log_artifact("report.txt", body=b"hello from the project folder")
ctx.log_artifact("notes.txt", body=b"more notes")
"""


@pytest.fixture()
def browser():
    driver = headless_chromium()
    yield driver
    quit_chromium(driver)


def test_run_page_tells_the_command_that_serves_the_artifacts_of_its_folder(tmp_path, browser):
    project, store = tmp_path / "project", str(tmp_path / "store")
    project.mkdir()
    (project / "report.py").write_text(SCRIPT)
    ran = mlrun_cli("run", "--db", store, "-q", "report.py", cwd=str(project))
    assert ran.returncode == 0, ran.stderr
    uid = ran.stdout.strip().splitlines()[-1]
    assert (project / "report.txt").read_bytes() == b"hello from the project folder"

    with running_server(store, cwd=str(project)) as plain:  # no --artifact-root
        browser.get(f"{plain.url}/runs/{uid}")
        refused = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#artifacts .refused")]
        assert len(refused) == 2 and "not served" in refused[0] and str(project) in refused[0]
        assert "the command above serves it" in refused[1]  # told once per folder
        hints = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#artifacts pre.serve-hint")]
        port = plain.url.rsplit(":", 1)[1]
        assert hints == [shlex.join(["mlrun", "server", "--port", port, "--store", os.path.realpath(store),
                                     "--threads", "4", "--artifact-root", os.path.realpath(project)])]
        assert "hello from the project folder" not in browser.find_element(By.ID, "artifacts").text

    words = shlex.split(hints[0])
    assert words[:2] == ["mlrun", "server"]
    options = dict(zip(words[2::2], words[3::2], strict=True))
    del options["--port"]  # the same options on another free port
    with running_server(options.pop("--store"), args=tuple(w for pair in options.items() for w in pair)) as served:
        browser.get(f"{served.url}/runs/{uid}")  # started elsewhere, with the hinted options: it serves them
        assert "hello from the project folder" in browser.find_element(By.CSS_SELECTOR, "#artifacts pre").text
        assert not browser.find_elements(By.CSS_SELECTOR, "#artifacts .refused, #artifacts pre.serve-hint")


def test_no_command_is_offered_for_artifacts_outside_the_servers_folder(tmp_path, browser):
    from sample_runs import sample_record

    from mlrun.rundb.httpdb import HTTPRunDB

    elsewhere, start = tmp_path / "elsewhere", tmp_path / "start"
    start.mkdir()
    record = sample_record("hint0001", artifacts_dir=str(elsewhere))
    record["status"]["output_artifacts"].append({"key": "shadow", "target_path": "/etc/shadow", "format": "txt"})
    with running_server(str(tmp_path / "store"), cwd=str(start)) as plain:
        db = HTTPRunDB(plain.url)
        db.store_run_data(record)
        db.close()
        browser.get(f"{plain.url}/runs/hint0001")
        refused = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#artifacts .refused")]
        assert len(refused) == 4 and all("--artifact-root FOLDER serves a folder" in text for text in refused)
        assert not browser.find_elements(By.CSS_SELECTOR, "pre.serve-hint")  # no record names what to serve
