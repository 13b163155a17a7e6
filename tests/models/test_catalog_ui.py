"""The Datasets and Models pages and an artifact's page (versions, schema, preview, statistics, metrics, lineage)
in a real headless chromium against a real ``mlrun server``."""
import pytest
from chromium import headless_chromium, quit_chromium
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from server_process import running_server
from test_datasets import frame, gen
from test_models import train

import mlrun
import mlrun.rundb


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A server over a store holding two versions of a dataset (the older tagged prod), a model and a consumer."""
    root = tmp_path_factory.mktemp("catalog")
    store = str(root / "store")
    with running_server(store, args=("--artifact-root", str(root))) as server:
        mlrun.rundb._cache.clear()
        first = mlrun.run_start(handler=gen, params={"rows": 10, "tag": "prod"}, project="shop",
                                artifact_path=str(root / "v1"), rundb=server.url)
        second = mlrun.run_start(handler=gen, params={"rows": 20}, project="shop", artifact_path=str(root / "v2"),
                                 rundb=server.url)
        mlrun.run_start(handler=train, params={"c": 0.5}, project="iris", artifact_path=str(root / "m"),
                        rundb=server.url)

        def consume(context, data):
            context.log_output("rows", len(data.as_df()))

        consumer = mlrun.run_start(handler=consume, inputs={"data": "store://datasets/shop/dataset:prod"},
                                   project="shop", name="report", rundb=server.url)
        assert consumer.state() == "completed", consumer.error
        yield {"url": server.url, "first": first, "second": second, "consumer": consumer}
        mlrun.rundb._cache.clear()


@pytest.fixture(scope="module")
def browser():
    driver = headless_chromium()
    yield driver
    quit_chromium(driver)


def cells(driver, selector: str) -> list[list[str]]:
    return [[cell.text for cell in row.find_elements(By.CSS_SELECTOR, "th, td")]
            for row in driver.find_elements(By.CSS_SELECTOR, selector)]


def test_datasets_page_and_a_dataset_with_its_versions_and_lineage(site, browser):
    browser.get(site["url"] + "/datasets")
    rows = cells(browser, "#catalog-table tbody tr")
    by_key = {row[0]: row for row in rows}
    assert set(by_key) == {"dataset", "iris", "sample"}
    assert by_key["dataset"][1:6] == ["shop", "latest", "20", "4", "parquet"]  # the newest version
    browser.find_element(By.LINK_TEXT, "dataset").click()
    WebDriverWait(browser, 10).until(lambda d: "/artifacts/shop/dataset" in d.current_url)
    assert browser.find_element(By.ID, "artifact-uri").text == site["second"].outputs["dataset"]
    assert cells(browser, "#schema tbody tr") == [["n", "int64"], ["x", "float64"], ["flag", "bool"],
                                                   ["city", str(frame().dtypes["city"])]]
    assert cells(browser, "#preview tbody tr")[1][:1] == ["1"] and len(cells(browser, "#preview tbody tr")) == 5
    stats = {row[0]: row for row in cells(browser, "#stats tbody tr")}
    header = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#stats thead th")]
    assert stats["n"][header.index("max")] == "19" and stats["city"][header.index("unique")] == "5"
    versions = cells(browser, "#versions-table tbody tr")
    assert [row[0].split() for row in versions] == [["latest"], ["prod"]]  # the tags each version holds
    assert "no run read this version" in browser.find_element(By.ID, "consumers").text

    browser.find_element(By.PARTIAL_LINK_TEXT, site["first"].uid[:8]).click()  # the prod version
    WebDriverWait(browser, 10).until(lambda d: f"uid={site['first'].uid}" in d.current_url)
    assert browser.find_element(By.ID, "artifact-uri").text == site["first"].outputs["dataset"]
    assert "report" in browser.find_element(By.ID, "consumers").text  # read through :prod
    browser.find_element(By.CSS_SELECTOR, "#consumers a").click()
    WebDriverWait(browser, 10).until(lambda d: f"/runs/{site['consumer'].uid}" in d.current_url)


def test_models_page_and_a_model_with_its_metrics(site, browser):
    browser.get(site["url"] + "/models")
    rows = cells(browser, "#catalog-table tbody tr")
    assert [row[:5] for row in rows] == [["classifier", "iris", "latest", "sklearn", "LogisticRegression"]]
    assert rows[0][5].startswith("accuracy=0.9")
    browser.find_element(By.LINK_TEXT, "classifier").click()
    WebDriverWait(browser, 10).until(lambda d: "/artifacts/iris/classifier" in d.current_url)
    assert cells(browser, "#metrics tr")[0][0] == "accuracy"
    assert ["C", "0.5"] in cells(browser, "#parameters tr") and ["framework", "sklearn"] in cells(browser,
                                                                                                   "#parameters tr")
    browser.find_element(By.CSS_SELECTOR, "#producer a").click()  # the run that trained it
    WebDriverWait(browser, 10).until(lambda d: "/runs/" in d.current_url)
    browser.find_element(By.CSS_SELECTOR, "a.artifact-lineage").click()  # back from the run page
    WebDriverWait(browser, 10).until(lambda d: "/artifacts/iris/" in d.current_url)
    assert not [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
