"""Reports render offline in headless Chromium: numbers visible, every image loaded, and the run,
seed-group, study and runs-index pages fit a narrow window (tables scroll inside their box, the
page body never scrolls sideways). Screenshots of each page at each width go to tmp_path.

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

from tamrin import runner
from tamrin.eval.report import write_report, write_runs_index

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


# Overflow and images of any page; `wide` lists elements wider than the viewport that are not
# inside a scrolling box (what a reader would have to scroll the whole page for).
_LAYOUT = """() => {
  const vw = window.innerWidth;
  const scrolls = e => { for (let p = e; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll') return true; }
    return false; };
  const wide = Array.from(document.body.querySelectorAll('*'))
    .filter(e => e.getBoundingClientRect().right > vw + 1 && !scrolls(e.parentElement))
    .map(e => e.tagName + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''));
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: vw,
    wide: wide.slice(0, 10),
    tables: document.querySelectorAll('div.table > table').length,
    images: Array.from(document.images).map(
        i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0})),
  };
}"""
WIDTHS = (1280, 800)


def _layouts(pages: dict[str, Path], shots: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """Open every page at every width in one browser; {(name, width): layout}; screenshots
    (full page) saved as shots/<name>-<width>.png."""
    shots.mkdir(parents=True, exist_ok=True)
    out: dict[tuple[str, int], dict[str, Any]] = {}
    if sync_playwright is not None:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                for width in WIDTHS:
                    page = browser.new_page(viewport={"width": width, "height": 900})
                    for name, path in pages.items():
                        page.goto(path.as_uri(), wait_until="load")
                        out[name, width] = page.evaluate(_LAYOUT)
                        page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
                    page.close()
            finally:
                browser.close()
        return out
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
        for width in WIDTHS:
            driver.set_window_size(width, 900)
            for name, path in pages.items():
                driver.get(path.as_uri())
                out[name, width] = driver.execute_script(f"return ({_LAYOUT})();")
                driver.save_screenshot(str(shots / f"{name}-{width}.png"))
    finally:
        driver.quit()
    return out


def test_every_kind_of_page_fits_a_narrow_window(
    tmp_path: Path, make_runs_folder: Callable[[Path], dict[str, Path]]
) -> None:
    """A run, a seed group, a one-epoch study with long metric names and the runs index."""
    out = tmp_path / "runs"
    folders = make_runs_folder(out)
    index = write_runs_index(runner.list_runs(out), out)
    pages = {name: folder / "report.html" for name, folder in folders.items()}
    pages["index"] = index
    shots = tmp_path / "screenshots"
    layouts = _layouts(pages, shots)

    for (name, width), layout in layouts.items():
        where = f"{name} at {width} px"
        assert layout["scrollWidth"] <= layout["innerWidth"], (
            f"{where}: the page scrolls sideways ({layout['scrollWidth']} > "
            f"{layout['innerWidth']} px); too wide: {layout['wide']}"
        )
        assert not layout["wide"], f"{where}: elements past the window: {layout['wide']}"
        assert layout["tables"] >= 1, f"{where}: no table in a scrolling box"
        broken = [i["src"] for i in layout["images"] if not i["ok"]]
        assert not broken, f"{where}: images that did not load: {broken}"
        assert (shots / f"{name}-{width}.png").stat().st_size > 5_000
    images = {name: {i["src"] for i in layouts[name, 800]["images"]} for name in pages}
    assert "figures/curves.png" in images["run"] and "figures/curves.png" in images["group"]
    assert {"figures/bar.png", "figures/curve-val_acc.png"} <= images["study"]
