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
