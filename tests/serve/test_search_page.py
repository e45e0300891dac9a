"""The Search panel of the page in headless Chromium: a photo in, thumbnails of the most similar images out.

Skips when Playwright or Chromium is missing, like ``test_page_browser.py``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

WORK_MS = 30_000


@pytest.fixture(scope="module")
def tab(catalog: Path, running_app) -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    executable = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if executable is None:
        pytest.skip("no chromium binary (apt-get install -y chromium)")
    from sightkit.serve.app import create_app
    from sightkit.serve.config import ServeConfig

    with running_app(create_app(ServeConfig(catalog=catalog))) as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url + "/")
        page.wait_for_selector("#panel-search")
        yield page
        browser.close()
        assert not errors, f"JavaScript errors on the page: {errors}"


def test_search_panel_shows_the_hits_as_thumbnails_best_first(tab, catalog: Path) -> None:
    from playwright.sync_api import expect

    expect(tab.locator("#panel-search")).to_contain_text("6 images in catalogue shop")
    tab.fill("#search-k", "3")
    tab.set_input_files("#search-drop-file", catalog.parent / "catalogue" / "2.png")
    expect(tab.locator("#search-hits li")).to_have_count(3, timeout=WORK_MS)
    first = tab.locator("#search-hits li").first
    expect(first).to_contain_text("#1 1.000")
    expect(first).to_contain_text("catalogue/2.png")
    assert first.locator("img").get_attribute("src").startswith("data:image/jpeg;base64,")
