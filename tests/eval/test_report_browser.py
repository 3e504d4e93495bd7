"""report.html renders offline in headless Chromium: numbers visible, every image loaded.

Needs the Debian `chromium` package (the CI script runs `apt-get install -y chromium
chromium-driver`). Drives it with Python playwright, or selenium + chromedriver when playwright is
not importable.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tamrin.eval.report import write_report

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

if not CHROMIUM.exists():
    pytest.skip(
        f"headless Chromium not found at {CHROMIUM}; install it with "
        f"`apt-get install -y chromium chromium-driver`",
        allow_module_level=True,
    )

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # fall back to selenium + the Debian chromedriver
    sync_playwright = None

pytestmark = pytest.mark.browser

# What the page reports about itself, evaluated in the browser.
_PROBE = """() => {
  const table = document.querySelector('#headline');
  const box = table ? table.getBoundingClientRect() : null;
  return {
    headlineVisible: !!box && box.width > 0 && box.height > 0
        && getComputedStyle(table).visibility !== 'hidden',
    headlineText: table ? table.innerText : '',
    classificationText: (document.querySelector('#classification') || {}).innerText || '',
    images: Array.from(document.images).map(
        i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0})),
  };
}"""


def _probe_playwright(url: str) -> tuple[dict[str, Any], list[str]]:
    assert sync_playwright is not None
    requested: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda r: requested.append(r.url))
            page.goto(url, wait_until="load")
            return page.evaluate(_PROBE), requested
        finally:
            browser.close()


def _probe_selenium(url: str) -> tuple[dict[str, Any], list[str]]:
    if not CHROMEDRIVER.exists():
        pytest.skip(f"playwright is not importable and {CHROMEDRIVER} is missing")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in [*ARGS, "--headless=new"]:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.get(url)  # returns after the load event, images included
        result = driver.execute_script(f"return ({_PROBE})();")
        urls = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name);"
        )
        return result, [url, *urls]
    finally:
        driver.quit()


def _probe(url: str) -> tuple[dict[str, Any], list[str]]:
    return _probe_playwright(url) if sync_playwright is not None else _probe_selenium(url)


def test_report_renders_offline(tmp_path: Path, make_run: Callable[..., Path]) -> None:
    run = make_run(tmp_path / "run")
    html_path, _ = write_report(run)
    # the report folder travels as a whole: open a copy somewhere else
    moved = shutil.copytree(run, tmp_path / "moved")
    result, requested = _probe((moved / html_path.name).as_uri())

    assert result["headlineVisible"]
    assert "test.accuracy" in result["headlineText"]
    assert "0.6234" in result["headlineText"] and "0.6200" in result["headlineText"]
    assert "0.5512" in result["classificationText"]
    images = result["images"]
    assert {i["src"] for i in images} >= {
        "figures/curves.png",
        "figures/confusion.png",
        "figures/roc.png",
        "figures/norm_axes.png",
    }
    broken = [i["src"] for i in images if not i["ok"]]
    assert not broken, f"images that did not load: {broken}"
    external = [u for u in requested if not u.startswith("file://")]
    assert not external, f"the report fetched non-local resources: {external}"
