"""The offline attention viewer: one self-contained page (no URL, no requirejs, data that cannot
close its script), shape checks, the truncation notice; and, in headless Chromium, that it draws
without errors or network, that the layer, head and model-view controls change the drawing, and
that a long input stays fast. Browser tests skip when /usr/bin/chromium or playwright is missing.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tamrin.eval import attention_viewer
from tamrin.eval.attention_viewer import CHROMIUM, screenshot_page, write_attention_page

HOSTILE = "</script><script>window.pwned = 1</script>"
TOKENS = ["[CLS]", "the", "cat", HOSTILE, "sat", '"on"', "&amp;", "<b>", "a", "mat", ".", "[SEP]"]


def _attention(
    layers: int, heads: int, n: int, *, sharpness: float = 1.0, seed: int = 0
) -> np.ndarray:
    """Random softmax attention (layers, heads, n, n); `sharpness` scales the logits."""
    logits = np.random.default_rng(seed).normal(size=(layers, heads, n, n)) * sharpness
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _data(page: Path) -> dict[str, Any]:
    """The JSON the page's script draws from."""
    found = re.search(r"^const DATA = (.*);$", page.read_text(encoding="utf-8"), re.M)
    assert found, "no `const DATA = ...;` line in the page"
    return json.loads(found.group(1))


class _Tags(HTMLParser):
    """Counts <script> tags and collects every attribute that could load something."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts = 0
        self.loads: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        self.loads += [f"{tag} {k}={v}" for k, v in attrs if k in ("src", "href", "srcset")]


# ----------------------------------------------------------------------------- without a browser


def test_page_is_one_file_with_nothing_to_fetch(tmp_path: Path) -> None:
    page = write_attention_page(
        tmp_path / "sub" / "att.html", TOKENS, _attention(3, 4, 12), title="Toy", note="p = 0.9"
    )
    assert page == tmp_path / "sub" / "att.html" and page.is_file()
    text = page.read_text(encoding="utf-8")
    for bad in ("http://", "https://", "src=", "require(", "@import", "url(", "//cdn"):
        assert bad not in text, f"the page mentions {bad!r}"
    tags = _Tags()
    tags.feed(text)
    assert tags.scripts == 1 and not tags.loads
    for needed in ('id="head-view"', 'id="model-view"', 'id="layer"', '<svg id="lines"'):
        assert needed in text
    assert "p = 0.9" in text
    data = _data(page)
    assert data["tokens"] == TOKENS and (data["layers"], data["heads"]) == (3, 4)
    assert len(set(data["colors"])) == 4


def test_hostile_tokens_title_and_note_stay_text(tmp_path: Path) -> None:
    title = 'A <b>"bold"</b> & </script> title'
    page = write_attention_page(
        tmp_path / "att.html", TOKENS, _attention(1, 2, 12), title=title, note="<i>note</i> & co"
    )
    text = page.read_text(encoding="utf-8")
    assert text.count("</script>") == 1, "data or title closed the script early"
    assert text.count("<script") == 1
    tags = _Tags()
    tags.feed(text)
    assert tags.scripts == 1
    assert "<b>" not in text and "<i>" not in text
    assert "&lt;b&gt;&quot;bold&quot;&lt;/b&gt; &amp; &lt;/script&gt; title" in text
    assert "&lt;i&gt;note&lt;/i&gt; &amp; co" in text
    (line,) = [s for s in text.splitlines() if s.startswith("const DATA = ")]
    assert not set("<>&") & set(line), "the JSON must escape <, > and &"
    assert _data(page)["tokens"][3] == HOSTILE  # the token itself survives, as text


@pytest.mark.parametrize(
    ("shape", "n_tokens", "match"),
    [
        ((2, 3, 12, 11), 12, r"\(2, 3, 12, 11\)"),  # not square
        ((2, 3, 10, 10), 12, "len\\(tokens\\) = 12"),  # L != len(tokens)
        ((3, 12, 12), 12, r"\(layers, heads, L, L\)"),  # a layer missing
        ((2, 1, 3, 12, 12), 12, "torch.stack"),  # a Hugging Face tuple stacked, batch kept
    ],
)
def test_wrong_shapes_raise(
    tmp_path: Path, shape: tuple[int, ...], n_tokens: int, match: str
) -> None:
    with pytest.raises(ValueError, match=match) as caught:
        write_attention_page(
            tmp_path / "att.html", TOKENS[:n_tokens], np.full(shape, 0.1), title="x"
        )
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "att.html").exists()


def test_nan_and_bad_max_tokens_raise(tmp_path: Path) -> None:
    att = _attention(1, 1, 12)
    att[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_attention_page(tmp_path / "a.html", TOKENS, att, title="x")
    with pytest.raises(ValueError, match="max_tokens"):
        write_attention_page(
            tmp_path / "a.html", TOKENS, _attention(1, 1, 12), title="x", max_tokens=0
        )


@pytest.mark.parametrize("n", [12, 96, 97, 200])
def test_long_inputs_are_cut_with_a_notice(tmp_path: Path, n: int) -> None:
    tokens = [f"t{i}" for i in range(n)]
    att = _attention(2, 3, n)
    page = write_attention_page(tmp_path / "att.html", tokens, att, title="long", max_tokens=96)
    text = page.read_text(encoding="utf-8")
    data = _data(page)
    kept = min(n, 96)
    assert data["tokens"] == tokens[:kept] and data["total_tokens"] == n
    assert ('id="truncated"' in text) == (n > 96)
    if n > 96:
        assert f"Showing the first 96 of {n} tokens." in text
        assert "not renormalised" in text
    weights = np.frombuffer(base64.b64decode(data["weights"]), dtype=np.uint8)
    assert weights.size == 2 * 3 * kept * kept
    # the kept block, as bytes w * 255, rows not renormalised
    expected = np.rint(att[:, :, :kept, :kept] * 255).astype(np.uint8)
    np.testing.assert_array_equal(weights.reshape(2, 3, kept, kept), expected)


def test_torch_tensors_are_accepted(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    att = torch.tensor(_attention(2, 2, 12), requires_grad=True)
    page = write_attention_page(tmp_path / "att.html", TOKENS, att * 1.0, title="torch")
    assert (_data(page)["layers"], _data(page)["heads"]) == (2, 2)
    per_layer = tuple(t.unsqueeze(0) for t in att)  # like outputs.attentions, grads and all
    page = write_attention_page(tmp_path / "b.html", TOKENS, torch.stack(per_layer)[:, 0], title="")
    assert _data(page)["tokens"] == TOKENS
    page = write_attention_page(tmp_path / "c.html", TOKENS, list(att), title="a list")
    assert _data(page)["layers"] == 2


def test_screenshot_without_a_browser_is_false(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = write_attention_page(tmp_path / "att.html", TOKENS, _attention(1, 1, 12), title="x")
    monkeypatch.setattr(attention_viewer, "CHROMIUM", tmp_path / "no-chromium")
    assert screenshot_page(page, tmp_path / "a.png") is False
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)  # import raises ImportError
    assert screenshot_page(page, tmp_path / "b.png") is False
    assert not list(tmp_path.glob("*.png"))


# ----------------------------------------------------------------------------- in Chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module's browser tests (skips when there is none)."""
    if not CHROMIUM.exists():
        pytest.skip(f"headless Chromium not found at {CHROMIUM}; apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not importable; pip install playwright")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


@dataclass
class Viewer:
    """An open viewer page and what went wrong on it."""

    page: Any
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    fetched: list[str] = field(default_factory=list)  # requests other than file:// (blocked)

    def state(self) -> dict[str, Any]:
        return self.page.evaluate("window.attentionViewer.state()")

    def fingerprint(self) -> str:
        return self.page.evaluate(
            """() => Array.from(document.querySelectorAll('#lines line'), l =>
                l.getAttribute('y1') + ':' + l.getAttribute('y2') + ':'
                + l.getAttribute('stroke-opacity')).join(',')"""
        )

    def assert_clean(self) -> None:
        assert not self.errors, f"errors on the page: {self.errors}"
        assert not self.fetched, f"the page asked the network for: {self.fetched}"


@pytest.fixture
def open_viewer(browser: Any) -> Iterator[Any]:
    """`open_viewer(path)` opens a page with every non-file request blocked and recorded, and
    returns a Viewer once the page has drawn."""
    pages: list[Any] = []

    def open_(path: Path) -> Viewer:
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        pages.append(page)
        viewer = Viewer(page)
        page.on("console", lambda m: m.type == "error" and viewer.errors.append(m.text))
        page.on("pageerror", lambda e: viewer.errors.append(str(e)))

        def route(r: Any) -> None:
            if r.request.url.startswith("file://"):
                r.continue_()
            else:
                viewer.fetched.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_function("document.body.dataset.ready === '1'", timeout=10_000)
        return viewer

    yield open_
    for page in pages:
        page.close()


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """3 layers x 4 heads x 12 tokens (one hostile) with a note."""
    return write_attention_page(
        tmp_path / "att.html",
        TOKENS,
        _attention(3, 4, 12, sharpness=2.0),
        title="Toy <model>",
        note="the cat sat on a mat\np(positive) = 0.91",
    )


@pytest.mark.browser
def test_draws_offline_without_errors(open_viewer: Any, small: Path) -> None:
    v = open_viewer(small)
    v.assert_clean()
    page = v.page
    assert page.evaluate("window.pwned") is None, "a token ran as script"
    info = page.evaluate(
        """() => ({layers: attentionViewer.layers, heads: attentionViewer.heads,
            tokens: attentionViewer.tokens,
            left: Array.from(document.querySelectorAll('#from .tok'), d => d.textContent),
            title: document.querySelector('h1').textContent,
            truncated: !!document.getElementById('truncated'),
            boxes: Array.from(document.querySelectorAll('#head-boxes input'), b => b.id)})"""
    )
    assert (info["layers"], info["heads"]) == (3, 4)
    assert info["tokens"] == TOKENS and info["left"] == TOKENS
    assert info["title"] == "Toy <model>" and not info["truncated"]
    assert info["boxes"] == ["head-0", "head-1", "head-2", "head-3"]
    state = v.state()
    assert state["layer"] == 0 and state["heads"] == [0, 1, 2, 3] and state["lines"] > 20
    # never a black box: every heatmap is opaque and mostly light
    shades = page.evaluate(
        """() => Array.from(document.querySelectorAll('#model-view canvas'), c => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let sum = 0, opaque = true;
            for (let k = 0; k < d.length; k += 4) {
              sum += (d[k] + d[k + 1] + d[k + 2]) / 3;
              opaque = opaque && d[k + 3] === 255;
            }
            return {mean: sum / (d.length / 4), opaque, w: c.width};
        })"""
    )
    assert len(shades) == 12
    assert all(s["opaque"] and s["mean"] > 150 and s["w"] == 12 for s in shades), shades


@pytest.mark.browser
def test_layer_and_head_controls_change_the_drawing(open_viewer: Any, small: Path) -> None:
    v = open_viewer(small)
    before, full = v.fingerprint(), v.state()["lines"]
    v.page.select_option("#layer", "2")
    assert v.state()["layer"] == 2 and v.fingerprint() != before
    full = v.state()["lines"]
    v.page.uncheck("#head-0")
    fewer = v.state()
    assert fewer["heads"] == [1, 2, 3] and 0 < fewer["lines"] < full
    v.page.click("#no-heads")
    assert v.state() == {"layer": 2, "heads": [], "lines": 0}
    v.page.click("#all-heads")
    assert v.state() == {"layer": 2, "heads": [0, 1, 2, 3], "lines": full}
    v.assert_clean()


@pytest.mark.browser
def test_hovering_a_token_shows_only_its_lines(open_viewer: Any, small: Path) -> None:
    v = open_viewer(small)
    full = v.state()["lines"]
    v.page.hover("#from .tok:nth-child(3)")
    ends = v.page.evaluate(
        "() => Array.from(document.querySelectorAll('#lines line'), l => l.getAttribute('y1'))"
    )
    assert 0 < len(ends) <= 4 * 12 and len(set(ends)) == 1  # all from the third query token
    v.page.mouse.move(1000, 5)  # off every token: the full drawing comes back
    v.page.wait_for_function(f"attentionViewer.state().lines === {full}", timeout=2_000)
    v.assert_clean()


@pytest.mark.browser
def test_clicking_a_thumbnail_selects_its_layer_and_head(open_viewer: Any, small: Path) -> None:
    v = open_viewer(small)
    v.page.click("#thumb-1-2")
    state = v.state()
    assert state["layer"] == 1 and state["heads"] == [2] and state["lines"] > 0
    assert v.page.evaluate("document.getElementById('layer').value") == "1"
    assert v.page.is_checked("#head-2") and not v.page.is_checked("#head-0")
    v.assert_clean()


@pytest.mark.browser
def test_a_long_input_is_cut_and_stays_fast(open_viewer: Any, tmp_path: Path) -> None:
    tokens = [f"tok{i}" for i in range(200)]
    page = write_attention_page(
        tmp_path / "long.html",
        tokens,
        _attention(2, 12, 200, sharpness=2.5),
        title="long",
        max_tokens=96,
    )
    start = time.perf_counter()
    v = open_viewer(page)
    opened = time.perf_counter() - start
    v.assert_clean()
    notice = v.page.text_content("#truncated") or ""
    assert "Showing the first 96 of 200 tokens." in notice and v.page.is_visible("#truncated")
    assert v.page.evaluate("attentionViewer.tokens.length") == 96
    ms = v.page.evaluate(
        "() => { const t = performance.now(); attentionViewer.draw(); "
        "return performance.now() - t; }"
    )
    lines = v.state()["lines"]
    assert lines > 5_000, "the test input should be a heavy drawing"
    assert opened < 5.0, f"opening and first drawing took {opened:.1f} s"
    assert ms < 2_000, f"redrawing {lines} lines took {ms:.0f} ms"


@pytest.mark.browser
def test_screenshot_page_writes_a_png(browser: Any, small: Path, tmp_path: Path) -> None:
    png = tmp_path / "shots" / "att.png"  # (with the module's browser still open: it copes)
    assert screenshot_page(small, png, width=900, height=700) is True
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
