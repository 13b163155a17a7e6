"""The docs' pictures of the web UI: taken by the browser tests only when asked (``MLRUN_DOCS_SCREENSHOTS``), at a
fixed size, and the ones in docs/images/ (``scripts/screenshots.sh``) are all there and small."""
from __future__ import annotations

import os
import struct

import pytest
from chromium import DOCS_SCREENSHOTS, DOCS_VIEWPORT, docs_screenshot, headless_chromium, quit_chromium
from helpers import ROOT

PICTURES = ("ui-runs.png", "ui-run.png", "ui-sweep.png", "ui-compare.png", "ui-model.png")


def png_size(path) -> tuple[int, int]:
    with open(path, "rb") as fp:
        head = fp.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.mark.parametrize("name", PICTURES)
def test_the_docs_have_each_picture_at_its_size(name):
    path = os.path.join(ROOT, "docs", "images", name)
    assert png_size(path) == DOCS_VIEWPORT and os.path.getsize(path) < 200_000


def test_pictures_are_taken_only_when_asked(server, tmp_path, monkeypatch):
    driver = headless_chromium()
    try:
        driver.get(server.url + "/")
        window = driver.execute_script("return [window.innerWidth, window.innerHeight]")
        monkeypatch.delenv(DOCS_SCREENSHOTS, raising=False)
        assert docs_screenshot(driver, "ui-runs.png") is None
        monkeypatch.setenv(DOCS_SCREENSHOTS, str(tmp_path / "pictures"))
        path = docs_screenshot(driver, "ui-runs.png")
        assert path == str(tmp_path / "pictures" / "ui-runs.png") and png_size(path) == DOCS_VIEWPORT
        assert driver.execute_script("return [window.innerWidth, window.innerHeight]") == window  # as before
    finally:
        quit_chromium(driver)
    assert [p.name for p in tmp_path.rglob("*.png")] == ["ui-runs.png"]
