"""The run page previews typed artifacts by their viewer: a table's first rows, a chart or page in a sandboxed
frame served under a strict policy, an image; checked over HTTP and in a real headless chromium."""
from __future__ import annotations

import html
import re

import pytest
import requests
from chromium import headless_chromium, quit_chromium
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from mlrun import get_or_create_ctx
from mlrun.artifacts import ChartArtifact, TableArtifact
from mlrun.rundb.httpdb import HTTPRunDB
from mlrun.server.api import ARTIFACT_POLICY

# a page that would leave a mark if its script ran anywhere: in its frame, or in the run page around it
SCRIPTED_PAGE = ("<html><body><p id='state'>static</p><script>document.getElementById('state').textContent='ran';"
                 "parent.document.title='scripted';</script></body></html>")


@pytest.fixture(scope="module")
def typed_run(server, tmp_path_factory) -> str:
    """A run logged in this process with a table, a chart, a scripted page and an html text, stored on the server."""
    folder = tmp_path_factory.mktemp("typed")
    ctx = get_or_create_ctx("typed", spec={"metadata": {"uid": "typed0001"},
                                           "spec": {"default_output_path": str(folder)}})
    ctx.log_artifact(TableArtifact("scores.csv", body=[["<b>m1</b>", 0.5], ["m2", 0.7]], header=["model", "score"]))
    chart = ChartArtifact("loss.html", header=["epoch", "loss"], options={"title": "training loss"})
    for epoch in range(1, 6):
        chart.add_row([epoch, 1 / epoch])
    ctx.log_artifact(chart)
    ctx.log_artifact("page.html", body=SCRIPTED_PAGE, viewer="web-app")
    ctx.log_artifact("source.html", body="<i>shown as text</i>", viewer="text")
    ctx.set_state("completed")
    db = HTTPRunDB(server.url)
    db.store_run_data(ctx.to_dict())
    db.close()
    return server.url


def test_the_run_page_frames_charts_and_pages_and_tabulates_tables(typed_run):
    page = requests.get(typed_run + "/runs/typed0001", timeout=10).text
    frames = re.findall(r'<iframe class="preview-frame" sandbox src="([^"]+)"', page)
    assert [html.unescape(src) for src in frames] == ["/api/runs/typed0001/artifacts/loss.html?inline=1",
                                                      "/api/runs/typed0001/artifacts/page.html?inline=1"]
    assert "<td>&lt;b&gt;m1&lt;/b&gt;</td>" in page and "<b>m1</b>" not in page  # the table's cells, escaped
    assert "&lt;i&gt;shown as text&lt;/i&gt;" in page  # a text viewer wins over the html format
    assert '<span class="chip">chart</span>' in page and '<span class="chip">table</span>' in page

    chart = requests.get(typed_run + frames[0], timeout=10)
    assert chart.headers["Content-Type"].startswith("text/html")
    assert chart.headers["Content-Disposition"] == 'inline; filename="loss.html"'
    assert chart.headers["Content-Security-Policy"] == ARTIFACT_POLICY
    assert "<svg" in chart.text
    download = requests.get(typed_run + "/api/runs/typed0001/artifacts/page.html", timeout=10)
    assert download.headers["Content-Disposition"].startswith("attachment")


def test_a_chart_renders_in_chromium_and_a_pages_script_never_runs(typed_run):
    browser = headless_chromium()
    try:
        browser.get(typed_run + "/runs/typed0001")
        frames = browser.find_elements(By.CSS_SELECTOR, "iframe.preview-frame")
        assert len(frames) == 2 and all(f.get_attribute("sandbox") == "" for f in frames)
        browser.switch_to.frame(frames[0])
        lines = WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "svg polyline"))
        assert lines[0].size["width"] > 100 and lines[0].size["height"] > 50  # drawn, not an empty box
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg circle")) == 5
        browser.switch_to.default_content()
        browser.switch_to.frame(frames[1])
        state = WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.ID, "state"))
        assert state[0].text == "static"  # the sandbox and the policy kept the script from running
        browser.switch_to.default_content()
        assert browser.title != "scripted"
        rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
                for tr in browser.find_elements(By.CSS_SELECTOR, ".preview-table tbody tr")]
        assert rows == [["<b>m1</b>", "0.5"], ["m2", "0.7"]]
    finally:
        quit_chromium(browser)
