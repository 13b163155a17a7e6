"""The web UI in a real headless chromium: list, filter, open a run, see its charts, compare two runs.

With ``MLRUN_DOCS_SCREENSHOTS=DIR`` the tests save the docs' pictures of the pages they check into DIR
(``scripts/screenshots.sh``); without it they take none.
"""
from __future__ import annotations

import os

import pytest
from chromium import docs_screenshot, headless_chromium, quit_chromium
from sample_runs import sample_record
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait
from server_process import TOKEN, running_server

from mlrun.rundb.httpdb import HTTPRunDB

# counts the pixels a chart's canvas has drawn: an empty canvas has none
DRAWN_PIXELS = """
const canvas = arguments[0].querySelector('canvas');
if (!canvas) return 0;
const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
let drawn = 0;
for (let i = 3; i < data.length; i += 4) if (data[i] > 0) drawn++;
return drawn;
"""


@pytest.fixture(scope="module")
def site(server, tmp_path_factory):
    """The server filled with three realistic runs (and 120 small ones, for paging)."""
    artifacts = str(tmp_path_factory.mktemp("artifacts"))
    db = HTTPRunDB(server.url)
    db.store_run_data(sample_record("aaaa1111", name="train", lr=0.1, epochs=5000, start="2024-03-03T10:00:00+00:00",
                               artifacts_dir=artifacts))
    db.store_run_data(sample_record("bbbb2222", name="train", lr=0.3, epochs=800, state="error",
                               start="2024-03-02T10:00:00+00:00", artifacts_dir=artifacts))
    db.store_run_data(sample_record("cccc3333", name="evaluate", lr=0.05, start="2024-03-01T10:00:00+00:00",
                               labels={"owner": "bo", "team": "nlp"}))
    for i in range(120):
        start = f"2024-01-01T{i // 60:02d}:{i % 60:02d}:00+00:00"
        db.store_run_data(sample_record(f"fill{i:04d}", name="prep", epochs=3, start=start))
    db.store_log("aaaa1111", b"epoch 1: loss 2.0\nepoch 5000: loss 0.05\n")
    db.close()
    return server.url


@pytest.fixture(scope="module")
def browser():
    driver = headless_chromium()
    yield driver
    quit_chromium(driver)


def wait(driver, seconds: float = 10):
    return WebDriverWait(driver, seconds)


def tick_texts(driver, selector: str) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, selector)]


def rows(driver) -> list:
    return driver.find_elements(By.CSS_SELECTOR, "#runs-table tbody tr")


def test_runs_list_filters_sorts_and_pages(site, browser):
    browser.get(site + "/")
    assert len(rows(browser)) == 100
    assert browser.find_element(By.CSS_SELECTOR, ".count").text == "100+"  # a page counts nothing more
    assert "1–100 of many" in browser.find_element(By.CSS_SELECTOR, ".pager").text
    browser.find_element(By.ID, "count-link").click()  # the exact count, on click
    wait(browser).until(lambda d: "total_exact=true" in d.current_url)
    assert browser.find_element(By.CSS_SELECTOR, ".count").text == "123"
    assert "1–100 of 123" in browser.find_element(By.CSS_SELECTOR, ".pager").text
    first = rows(browser)[0].find_elements(By.TAG_NAME, "td")
    assert first[1].text == "train" and first[2].text == "aaaa1111"[:8] and first[3].text == "completed"

    browser.find_element(By.CSS_SELECTOR, "a[rel=next]").click()
    wait(browser).until(lambda d: "offset=100" in d.current_url)
    assert len(rows(browser)) == 23

    browser.get(site + "/")
    browser.find_element(By.NAME, "name").send_keys("train")
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    wait(browser).until(lambda d: "name=train" in d.current_url)
    assert [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows(browser)] == ["aaaa1111", "bbbb2222"]

    browser.find_element(By.CSS_SELECTOR, "a.sort[data-sort=start_time]").click()  # newest first -> oldest first
    wait(browser).until(lambda d: "desc=false" in d.current_url)
    assert [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows(browser)] == ["bbbb2222", "aaaa1111"]

    browser.find_element(By.NAME, "label").send_keys("team=nlp")
    browser.find_element(By.NAME, "name").clear()
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    wait(browser).until(lambda d: "team%3Dnlp" in d.current_url)
    assert [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows(browser)] == ["evaluate"]


def test_run_page_shows_everything_and_draws_its_charts(site, browser):
    browser.get(site + "/")
    browser.find_element(By.LINK_TEXT, "aaaa1111").click()
    wait(browser).until(lambda d: "/runs/aaaa1111" in d.current_url)
    charts = wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".chart canvas") and
                                 d.find_elements(By.CSS_SELECTOR, ".chart"))
    assert [" ".join(c.text.split()) for c in browser.find_elements(By.CSS_SELECTOR, "figcaption")] == \
        ["loss 5,000 points, downsampled", "accuracy 100 points"]
    for chart in charts:
        assert browser.execute_script(DRAWN_PIXELS, chart) > 500, "a chart's canvas stayed empty"

    text = browser.find_element(By.TAG_NAME, "main").text
    for expected in ("lr", "0.1", "optimizer", "adam", "s3://datasets/iris/data.csv",
                     "9b2cf535f27731c974343645a3985328", "accuracy", "0.85", "owner=ana", "epoch 5000: loss 0.05",
                     "uid: aaaa1111", "secrets.txt"):
        assert expected in text, expected
    image = browser.find_element(By.CSS_SELECTOR, "img.preview-image")
    wait(browser).until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image))
    assert browser.execute_script("return arguments[0].naturalWidth", image) == 64
    csv_cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, ".preview-table td")]
    assert csv_cells[:3] == ["1", "2.0", "0.5"]
    assert browser.find_element(By.CSS_SELECTOR, "pre.preview-text").text.startswith("run aaaa1111: lr=0.1")
    assert not [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    docs_screenshot(browser, "ui-run.png", top=browser.find_element(By.ID, "metrics"))  # its charts and artifacts


def test_compare_two_runs_overlays_their_metrics(site, browser):
    browser.get(site + "/?name=train")
    for box in browser.find_elements(By.CSS_SELECTOR, "#runs-table input[type=checkbox]"):
        box.click()
    button = browser.find_element(By.ID, "compare-button")
    assert button.is_enabled() and button.text == "Compare 2 runs"
    button.click()
    wait(browser).until(lambda d: "/compare" in d.current_url)
    charts = wait(browser).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".chart canvas")) == 2 and
                                 d.find_elements(By.CSS_SELECTOR, ".chart"))
    for chart in charts:
        assert browser.execute_script(DRAWN_PIXELS, chart) > 500
        legend = chart.find_elements(By.CSS_SELECTOR, ".u-legend .u-series")
        assert len(legend) == 3  # the x axis and one line per run
    differing = {row.find_element(By.TAG_NAME, "th").text: [td.text for td in row.find_elements(By.TAG_NAME, "td")]
                 for row in browser.find_elements(By.CSS_SELECTOR, "#compare-table tr.differs")}
    assert differing["lr"] == ["0.1", "0.3"] and differing["epochs"] == ["5000", "800"]
    assert "optimizer" not in differing
    docs_screenshot(browser, "ui-compare.png")

    browser.find_element(By.ID, "only-diff").click()
    wait(browser).until(lambda d: "diff=1" in d.current_url)
    shown = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#compare-table tbody tr:not(.section-row) th")]
    assert "lr" in shown and "optimizer" not in shown


def test_login_page_guards_the_ui(tmp_path, browser):
    with running_server(str(tmp_path / "store"), token=TOKEN) as locked:
        browser.get(locked.url + "/")
        wait(browser).until(lambda d: "/login" in d.current_url)
        field = browser.find_element(By.NAME, "token")
        field.send_keys("not-it")
        field.submit()
        wait(browser).until(ready.text_to_be_present_in_element((By.CSS_SELECTOR, ".error-message"), "wrong token"))
        field = browser.find_element(By.NAME, "token")
        field.send_keys(TOKEN)
        field.submit()
        wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".table-head h1"))
        assert browser.find_element(By.CSS_SELECTOR, ".table-head h1").text.startswith("Runs")
        assert TOKEN not in browser.page_source


def test_filter_box_takes_an_expression(site, browser):
    browser.get(site + "/")
    box = browser.find_element(By.NAME, "filter")
    box.send_keys("parameters.lr >= 0.3 or labels.team = nlp")
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    wait(browser).until(lambda d: "filter=" in d.current_url)
    assert [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows(browser)] == ["bbbb2222", "cccc3333"]
    box = browser.find_element(By.NAME, "filter")
    box.clear()
    box.send_keys("parameters.lr >= and")
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    message = wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".error-message"))[0].text
    assert "expected a value after '>='" in message and "position 18" in message


def test_sweep_page_draws_its_iterations(site, browser):
    db = HTTPRunDB(site)
    parent = sample_record("sweep0001", name="sweep", start="2023-12-01T00:00:00+00:00")
    table = [["iteration", "state", "param.lr", "param.batch", "output.accuracy", "output.loss"]]
    for i in range(1, 13):
        table.append([i, "completed", 0.01 * i, 16 * (1 + i % 3), 0.5 + 0.04 * i, 1.0 / i])
    parent["status"]["iterations"] = table
    db.store_run_data(parent)
    db.close()
    browser.get_log("browser")  # what earlier pages logged (a refused filter is a 400 on purpose)
    browser.get(site + "/runs/sweep0001")
    lines = browser.find_elements(By.CSS_SELECTOR, "#sweep-parallel path")
    assert len(lines) == 12 and all(line.size["width"] > 100 for line in lines)  # each line spans the axes
    assert len(browser.find_elements(By.CSS_SELECTOR, "#sweep-parallel .sweep-axis")) == 4
    assert len(browser.find_elements(By.CSS_SELECTOR, "#sweep-scatter circle")) == 12
    assert browser.find_element(By.CSS_SELECTOR, "#sweep-scatter .x-label").text == "lr"
    # every axis is labelled with the values the iterations hold, not only its ends
    assert tick_texts(browser, '#sweep-parallel [data-axis="param.lr"] .tick') == [
        f"{0.01 * i:.4g}" for i in range(1, 13)]
    assert tick_texts(browser, '#sweep-parallel [data-axis="param.batch"] .tick') == ["16", "32", "48"]
    scatter_x = tick_texts(browser, "#sweep-scatter .x-tick")
    assert scatter_x[0] == "0.01" and scatter_x[-1] == "0.12" and 3 <= len(scatter_x) < 12
    assert set(scatter_x) <= {f"{0.01 * i:.4g}" for i in range(1, 13)}
    # the colour legend: which output colours the lines, from its lowest to its highest value
    legend = browser.find_element(By.CSS_SELECTOR, ".sweep-legend")
    assert "Colour: accuracy" in legend.text
    legend_ticks = tick_texts(browser, "#sweep-legend .legend-tick")
    assert legend_ticks[0] == "0.54" and legend_ticks[-1] == "0.98"
    assert browser.find_element(By.ID, "sweep-legend").size["width"] > 200
    docs_screenshot(browser, "ui-sweep.png", top=browser.find_element(By.ID, "sweep"))
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.NAME, "sx")).select_by_visible_text("batch")  # the page script redraws
    wait(browser).until(lambda d: "sx=param.batch" in d.current_url)
    assert browser.find_element(By.CSS_SELECTOR, "#sweep-scatter .x-label").text == "batch"
    xs = {c.get_attribute("cx") for c in browser.find_elements(By.CSS_SELECTOR, "#sweep-scatter circle")}
    assert len(xs) == 3  # three batch sizes
    assert tick_texts(browser, "#sweep-scatter .x-tick") == ["16", "32", "48"]
    assert not [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def test_sweep_parent_unreachable_function_and_integer_steps(tmp_path, browser):
    """A sweep's parent shows its best iteration's metrics (whole-number steps, ticked as whole numbers) and a
    link comparing its iterations; a run of a function never reached is listed under the function's URL."""
    from helpers import ROOT, free_port, mlrun_cli

    with running_server(str(tmp_path / "store")) as srv:
        train = os.path.join(ROOT, "examples", "train.py")
        sweep = mlrun_cli("run", "--db", srv.url, "-x", "depth=[2,4,8]", "--selector", "max.accuracy", "-q",
                          "--handler", "train", train, cwd=str(tmp_path))
        assert sweep.returncode == 0, sweep.stderr
        unreachable = f"http://127.0.0.1:{free_port()}/fn"  # nobody listens there
        failed = mlrun_cli("run", "--db", srv.url, "-q", unreachable, cwd=str(tmp_path))
        assert failed.returncode == 1, failed.stderr

        browser.get(srv.url + "/")
        names = [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows(browser)]
        assert unreachable in names and "(unnamed)" not in names

        browser.find_element(By.LINK_TEXT, "train").click()
        wait(browser).until(lambda d: "/runs/" in d.current_url)
        best = browser.find_element(By.CSS_SELECTOR, "#metrics .best-iteration")
        assert "iteration 3" in best.text  # depth 8 scores best
        chart = wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, ".chart[data-x-ticks]"))
        assert browser.execute_script(DRAWN_PIXELS, chart) > 500
        ticks = chart.get_attribute("data-x-ticks").split(",")
        assert ticks and all(t.isdigit() for t in ticks), ticks  # 1, 2, 3: no 1.25, 1.5
        assert "no metrics" not in browser.find_element(By.ID, "metrics").text

        browser.find_element(By.ID, "compare-iterations").click()
        wait(browser).until(lambda d: "/compare" in d.current_url)
        # the label column and the 3 runs, each column named by the parameter that sets it apart
        assert len(browser.find_elements(By.CSS_SELECTOR, "#compare-table thead th")) >= 3
        assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#compare-table .run-params")] == [
            "depth=2", "depth=4", "depth=8"]
        legend = wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".u-legend .u-series"))
        names = [e.find_element(By.CSS_SELECTOR, ".u-label").text for e in legend]
        assert names[1:4] == ["depth=2", "depth=4", "depth=8"]  # the charts' lines are named the same way


def test_filter_box_grows_with_its_text_and_suggests_fields(site, browser):
    browser.get(site + "/")
    box = browser.find_element(By.NAME, "filter")
    empty_width = box.size["width"]
    suggested = [o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "#filter-fields option")]
    # the language's fields, and the keys of the runs on the page
    for field in ("name", "state", "start_time", "labels.team", "outputs.accuracy", "parameters.lr"):
        assert field in suggested, field
    assert not [field for field in suggested if field.endswith(".KEY")]

    box.send_keys("outputs.accuracy > 0.8 and par")  # the datalist completes the word being typed
    wait(browser).until(lambda d: [o.get_attribute("value") for o in d.find_elements(
        By.CSS_SELECTOR, "#filter-fields option")] == ["outputs.accuracy > 0.8 and parameters.epochs",
                                                       "outputs.accuracy > 0.8 and parameters.lr",
                                                       "outputs.accuracy > 0.8 and parameters.optimizer"])
    long_filter = "(parameters.lr >= 0.3 or labels.team = nlp) and not name ~ 'smoke' and outputs.accuracy > 0.1"
    box.clear()
    box.send_keys(long_filter)
    wide = box.size["width"]
    assert wide > empty_width + 200  # it grew with the text, and shows it whole
    assert browser.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth + 1", box)
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    wait(browser).until(lambda d: "filter=" in d.current_url)
    box = browser.find_element(By.NAME, "filter")
    assert box.get_attribute("value") == long_filter and box.size["width"] > empty_width + 200  # shown whole again
    assert browser.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth + 1", box)
    assert [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows(browser)] == ["bbbb2222", "cccc3333"]

    box = browser.find_element(By.NAME, "filter")  # the runs that are not the filler ones, for the docs' picture
    box.clear()
    box.send_keys("name != prep and outputs.accuracy > 0.8")
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    wait(browser).until(lambda d: "prep" in d.current_url)
    shown = [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows(browser)]
    assert {"aaaa1111", "bbbb2222", "cccc3333"} <= set(shown) and len(shown) <= 4  # and the sweep, when stored
    docs_screenshot(browser, "ui-runs.png")


def test_model_page_shows_the_command_that_serves_it(tmp_path, browser):
    import mlrun
    import mlrun.rundb

    def train(context, c: float = 1.0):
        context.log_model("classifier", body=b"model weights", model_file="classifier.pkl", framework="sklearn",
                          algorithm="LogisticRegression", metrics={"accuracy": 0.96, "f1": 0.95},
                          parameters={"C": c}, labels={"team": "vision"})

    with running_server(str(tmp_path / "store"), args=("--artifact-root", str(tmp_path))) as srv:
        mlrun.rundb._cache.clear()
        try:
            run = mlrun.run_start(handler=train, params={"c": 0.5}, project="vision", name="train",
                                  artifact_path=str(tmp_path / "models"), rundb=srv.url)
        finally:
            mlrun.rundb._cache.clear()
        assert run.state() == "completed", run.error
        browser.get(srv.url + "/models")
        browser.find_element(By.LINK_TEXT, "classifier").click()
        wait(browser).until(lambda d: "/artifacts/vision/classifier" in d.current_url)
        assert browser.find_element(By.ID, "serve-command").text == f"mlrun serve-model {run.outputs['classifier']}"
        metrics = browser.find_element(By.ID, "metrics").text
        assert "accuracy" in metrics and "0.96" in metrics
        docs_screenshot(browser, "ui-model.png")
