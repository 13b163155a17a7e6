"""The web UI's workflow page in a real headless chromium: a workflow's state and its steps, in order, linked."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))

from chromium import headless_chromium, quit_chromium  # noqa: E402
from project_assets import write_project_files  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from server_process import running_server  # noqa: E402

import mlrun  # noqa: E402


def test_the_workflow_page_lists_its_steps_and_each_step_links_back(tmp_path, isolated_store):
    write_project_files(tmp_path / "proj")
    project = mlrun.new_project("paged", str(tmp_path / "proj"))
    project.set_function("handlers.py", name="train", handler="train")
    project.set_function("handlers.py", name="validate", handler="validate")
    project.set_workflow("main", "workflow.py")
    run = project.run("main", arguments={"lr": 0.25, "epochs": 2})

    driver = headless_chromium()
    try:
        with running_server(isolated_store) as server:
            driver.get(f"{server.url}/workflows/{run.run_id}")
            assert driver.find_element(By.ID, "workflow-state").text == "completed"
            assert "Workflow main" in driver.find_element(By.TAG_NAME, "h1").text
            rows = driver.find_elements(By.CSS_SELECTOR, "#workflow-steps tr.step")
            assert [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows] == ["train", "validate"]
            assert "accuracy=0.71875" in rows[0].text and "validation_accuracy=0.71625" in rows[1].text
            driver.save_screenshot(str(tmp_path / "workflow.png"))
            rows[1].find_element(By.TAG_NAME, "a").click()
            assert run.steps[1].metadata.uid in driver.page_source  # the step's own page
            driver.find_element(By.ID, "workflow-link").click()
            assert driver.current_url.endswith(f"/workflows/{run.run_id}")
            driver.get(f"{server.url}/workflows/12345678")  # steps of a pipeline run with no workflow record
            assert driver.find_elements(By.CSS_SELECTOR, "#workflow-steps tr.step") == []
            assert "no record of this workflow itself" in driver.page_source
    finally:
        quit_chromium(driver)
