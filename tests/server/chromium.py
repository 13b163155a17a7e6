"""Debian's headless chromium driven by selenium, for the UI tests and bench/bench_server.py."""
from __future__ import annotations

import shutil
import tempfile


def headless_chromium(width: int = 1400, height: int = 1000):
    """A selenium ``webdriver.Chrome`` on the system chromium and chromedriver, with a fresh profile.

    The profile directory is removed by ``quit_chromium``.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="mlrun-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    # a driver path given: selenium uses it and never tries to download one
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "chromedriver"), options=options)
    driver.mlrun_profile = profile
    return driver


def quit_chromium(driver) -> None:
    try:
        driver.quit()
    finally:
        shutil.rmtree(getattr(driver, "mlrun_profile", ""), ignore_errors=True)


#: the size of the docs' pictures of the UI, whatever the window the tests drive
DOCS_VIEWPORT = (1280, 800)
DOCS_SCREENSHOTS = "MLRUN_DOCS_SCREENSHOTS"


def docs_screenshot(driver, name: str, top=None) -> str | None:
    """Save what a 1280x800 window shows of the page as ``$MLRUN_DOCS_SCREENSHOTS/NAME`` (scrolled so that the
    element ``top`` is at the top), for the docs; nothing without the variable.  The page's charts are redrawn
    at that width first.  Returns the path written."""
    import os

    from selenium.webdriver.support.ui import WebDriverWait

    folder = os.environ.get(DOCS_SCREENSHOTS)
    if not folder:
        return None
    width, height = DOCS_VIEWPORT
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    try:
        driver.execute_script("window.dispatchEvent(new Event('resize'))")
        # the charts follow the resize (app.js redraws them a moment later): wait until each fits its box
        WebDriverWait(driver, 10).until(lambda d: d.execute_script(
            "return [...document.querySelectorAll('.chart')].every(box => !box.querySelector('canvas') || "
            "Math.abs(box.querySelector('.uplot').offsetWidth - box.clientWidth) <= 2)"))
        driver.execute_script("if (arguments[0]) { arguments[0].scrollIntoView(); window.scrollBy(0, -16); } "
                              "else window.scrollTo(0, 0)", top)
        path = os.path.join(folder, name)
        os.makedirs(folder, exist_ok=True)
        assert driver.save_screenshot(path), path
        return path
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        driver.execute_script("window.dispatchEvent(new Event('resize'))")
