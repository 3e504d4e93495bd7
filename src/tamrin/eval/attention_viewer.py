"""An offline attention viewer: one self-contained HTML page with a head view and a model view of a
transformer's attention weights (the two views of bertviz, without its pain points).

- Head view: a layer picker, one checkbox per head (each head its own colour), the tokens twice
  (left = query, right = key) and an SVG line from each query to each key per selected head, its
  opacity and width the attention weight. Hovering a token shows only its lines.
- Model view: a grid of layers x heads of small heatmaps (white = 0, the head's colour = high);
  clicking one shows that layer and head in the head view.

Why not bertviz: its output needs requirejs (`require is not defined` in JupyterLab and Colab) and a
CDN (blank when offline), its model view can come out as a black box, and long inputs are slow or
fail. Here the page is one file with inline style and script only (no URL of any kind, so it works
from file:// without a network), canvases are painted opaque white first, and long inputs are cut
to `max_tokens` tokens with a visible notice. The weights travel as bytes (w * 255, base64 in the
page's JSON): the screen shows 8-bit opacity anyway, and 12 layers x 12 heads x 96 tokens stay
under 2 MB. Lines below `MIN_WEIGHT` are not drawn (invisible, and it keeps 96 tokens x 12 heads
fast).

`screenshot_page` renders any such page to a PNG with headless Chromium (for reports and tests);
it returns False instead of raising when playwright or the browser is missing.

With a Hugging Face model (its `attentions` is a tuple of (batch, heads, L, L), one per layer):

    att = model(ids, output_attentions=True).attentions
    write_attention_page("attention.html", tokens, torch.stack(att)[:, 0], title="BERT")
"""

from __future__ import annotations

import base64
import colorsys
import contextlib
import html
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

MIN_WEIGHT = 0.01  # head view: lines for weights below this are not drawn
CHROMIUM = Path("/usr/bin/chromium")  # the Debian `chromium` package
_ROW_PX = 18  # height of one token row in the head view (the lines end at row centres)
_LINES_PX = 260  # width of the line drawing between the two token columns
_THUMB_PX = 64  # displayed size of one model-view heatmap
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


def _as_array(attentions: Any) -> np.ndarray:
    """A numpy float32 array from a numpy array, a torch tensor or a sequence of either."""
    if hasattr(attentions, "detach"):  # a torch tensor (maybe on a GPU, maybe with a grad)
        attentions = attentions.detach().float().cpu().numpy()
    elif isinstance(attentions, list | tuple) and any(hasattr(a, "detach") for a in attentions):
        attentions = [_as_array(a) for a in attentions]
    return np.asarray(attentions, dtype=np.float32)


def _check(tokens: Sequence[str], att: np.ndarray, max_tokens: int) -> None:
    shape = tuple(att.shape)
    if att.ndim != 4:
        hint = (
            "; for a Hugging Face `outputs.attentions` (per layer (batch, heads, L, L)) pass "
            "torch.stack(outputs.attentions)[:, 0]"
            if att.ndim == 5
            else ""
        )
        raise ValueError(
            f"attentions must have shape (layers, heads, L, L); got shape {shape}{hint}"
        )
    layers, heads, rows, cols = shape
    if rows != cols or rows != len(tokens):
        raise ValueError(
            f"attentions must be (layers, heads, L, L) with L = len(tokens) = {len(tokens)}; "
            f"got shape {shape}"
        )
    if min(layers, heads, rows) == 0:
        raise ValueError(f"attentions must have at least one layer, head and token; got {shape}")
    if not np.isfinite(att).all():
        raise ValueError(
            "attentions contain NaN or inf; pass the softmax weights of a forward pass"
        )
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1; got {max_tokens}")


def _head_colors(n: int) -> list[str]:
    """`n` colours ('#rrggbb') spread evenly around the hue circle, dark enough on white."""
    out = []
    for h in range(n):
        r, g, b = colorsys.hls_to_rgb(h / n, 0.42, 0.75)
        out.append(f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}")
    return out


def _page_data(tokens: Sequence[str], att: np.ndarray, max_tokens: int) -> dict[str, Any]:
    """What the page's script reads: tokens, sizes, colours and the weights as base64 bytes."""
    total = len(tokens)
    shown = min(total, max_tokens)
    att = att[:, :, :shown, :shown]  # (layers, heads, shown, shown); rows not renormalised
    q = np.rint(np.clip(att, 0.0, 1.0) * 255).astype(np.uint8)
    return {
        "tokens": [str(t) for t in tokens[:shown]],
        "total_tokens": total,
        "layers": int(att.shape[0]),
        "heads": int(att.shape[1]),
        "colors": _head_colors(int(att.shape[1])),
        "min_weight": MIN_WEIGHT,
        "weights": base64.b64encode(np.ascontiguousarray(q).tobytes()).decode("ascii"),
    }


def _script_json(data: dict[str, Any]) -> str:
    """JSON that is safe inside <script>: no `<`, `>` or `&` (so no `</script>`, no `<!--`)
    and no raw U+2028/U+2029 (ensure_ascii escapes every non-ASCII character)."""
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    for char, escaped in _JSON_ESCAPES.items():
        text = text.replace(char, escaped)
    return text


def write_attention_page(
    path: str | Path,
    tokens: Sequence[str],
    attentions: Any,
    *,
    title: str,
    note: str = "",
    max_tokens: int = 96,
) -> Path:
    """Write the viewer for `attentions` (layers, heads, L, L) over `tokens` (L) to `path`.

    Rows are query tokens and columns key tokens (each row a softmax). Inputs longer than
    `max_tokens` show their first `max_tokens` tokens only, with a notice on the page; the kept
    rows are not renormalised. `note` (model, sentence, probability, ...) is shown under the title.
    Returns the path written.
    """
    att = _as_array(attentions)
    tokens = list(tokens)
    _check(tokens, att, max_tokens)
    data = _page_data(tokens, att, max_tokens)
    shown, total = len(data["tokens"]), len(tokens)
    notice = (
        f'<p id="truncated" class="notice">Showing the first {shown} of {total} tokens. '
        f"Attention to the later tokens is left out and the rows are not renormalised.</p>\n"
        if total > shown
        else ""
    )
    note_html = f'<p class="note">{html.escape(note)}</p>\n' if note else ""
    script = (
        _SCRIPT.replace("__DATA__", _script_json(data))
        .replace("__ROW__", str(_ROW_PX))
        .replace("__WIDTH__", str(_LINES_PX))
        .replace("__THUMB__", str(_THUMB_PX))
    )
    page = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<header>\n<h1>{html.escape(title)}</h1>\n{note_html}{notice}</header>\n"
        f"{_BODY}<script>\n{script}</script>\n</body>\n</html>\n"
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def screenshot_page(
    html: str | Path, png: str | Path, *, width: int = 1100, height: int = 900
) -> bool:
    """Render the page at path `html` with headless Chromium and save a full-page PNG at `png`.

    Returns False, writing nothing, when playwright is not importable or Chromium (at
    /usr/bin/chromium) is missing or fails; True once the PNG is written. A viewer page is
    shot after its first drawing (`body[data-ready]`). Works inside Jupyter and inside another
    playwright session too: the browser is driven from a thread of its own, where no asyncio
    loop runs (playwright's sync API refuses to start under a running loop).
    """
    page_path = Path(html)
    if not page_path.is_file():
        raise FileNotFoundError(f"no page to screenshot at {page_path}")
    if not CHROMIUM.exists():
        return False
    with ThreadPoolExecutor(max_workers=1) as pool:
        image = pool.submit(_shoot, page_path.resolve().as_uri(), width, height).result()
    if image is None:
        return False
    out = Path(png)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(image)
    return True


def _shoot(url: str, width: int, height: int) -> bytes | None:
    """The full-page PNG of `url`, or None when playwright or the browser is missing or fails."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    ready = "() => !document.getElementById('head-view') || document.body.dataset.ready === '1'"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(url, wait_until="load")
                # not ready in time: shoot what is there, a broken page is what one wants to see
                with contextlib.suppress(PlaywrightError):
                    page.wait_for_function(ready, timeout=5_000)
                return page.screenshot(full_page=True)
            finally:
                browser.close()
    except (PlaywrightError, OSError):
        return None


# ----------------------------------------------------------------------------- the page

_BODY = """<noscript><p class="notice">This page draws the attention with JavaScript; allow
scripts for this file to see it.</p></noscript>
<p id="error" class="notice" hidden></p>
<main>
<section id="head-view">
<h2>Head view</h2>
<div class="controls">
<label>Layer <select id="layer"></select></label>
<span>Heads <button type="button" id="all-heads">all</button>
<button type="button" id="no-heads">none</button></span>
</div>
<div id="head-boxes" class="controls"></div>
<p class="hint">Lines go from each query token (left) to the key tokens (right) it attends to;
darker and thicker = more attention. Hover a token to see only its lines.</p>
<div class="columns"><div id="from" class="tokens"></div><svg id="lines"></svg><div id="to"
class="tokens"></div></div>
</section>
<section id="model-view">
<h2>Model view</h2>
<p class="hint">Every layer (rows) and head (columns): query tokens down, key tokens across,
white = 0 and dark = high. Click one to show it in the head view.</p>
<div id="grid"></div>
</section>
</main>
"""

_STYLE = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
  background: #fff; margin: 16px 24px; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 0 0 8px; }
.note { white-space: pre-line; color: #444; margin: 0 0 8px; }
.notice { background: #fff4d6; border: 1px solid #e0b84c; padding: 6px 10px; border-radius: 4px; }
.hint { color: #666; font-size: 12px; margin: 4px 0 8px; max-width: 560px; }
main { display: flex; flex-wrap: wrap; gap: 32px; align-items: flex-start; }
.controls { display: flex; flex-wrap: wrap; gap: 4px 10px; align-items: center; max-width: 720px;
  margin-bottom: 4px; }
.head { white-space: nowrap; cursor: pointer; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  vertical-align: middle; margin-left: 2px; }
.columns { display: flex; align-items: flex-start; }
.tokens { display: flex; flex-direction: column; font: 13px/1 ui-monospace, Menlo, monospace; }
.tok { height: __ROW__px; line-height: __ROW__px; max-width: 150px; padding: 0 4px;
  white-space: pre; overflow: hidden; text-overflow: ellipsis; cursor: default;
  border-radius: 3px; }
#from .tok { text-align: right; }
.tok.focus { outline: 1px solid #333; }
#lines { flex: none; display: block; }
#lines line { stroke-linecap: round; }
#grid { display: grid; gap: 4px; align-items: center; justify-content: start; }
#grid .label { font-size: 11px; color: #555; text-align: center; white-space: nowrap; }
.thumb { padding: 1px; border: 2px solid transparent; border-radius: 3px; background: #fff;
  cursor: pointer; display: flex; flex-direction: column; align-items: center; }
.thumb.on { border-color: #333; }
.thumb canvas { width: __THUMB__px; height: __THUMB__px; background: #fff;
  border: 1px solid #ccc; }
.thumb canvas.small { image-rendering: pixelated; }
.thumb span { font-size: 10px; color: #555; }
""".replace("__ROW__", str(_ROW_PX)).replace("__THUMB__", str(_THUMB_PX))

# The viewer. DATA: {tokens, total_tokens, layers, heads, colors, min_weight, weights}, weights a
# base64 string of bytes q = round(w * 255) in (layers, heads, query, key) row-major order.
_SCRIPT = """(() => {
"use strict";
const DATA = __DATA__;
// px per token row; px between the token columns; px of a model-view heatmap on screen
const ROW = __ROW__, WIDTH = __WIDTH__, THUMB = __THUMB__;
const $ = id => document.getElementById(id);
function main() {
  const tokens = DATA.tokens, L = tokens.length, NL = DATA.layers, NH = DATA.heads;
  const MINQ = Math.ceil(DATA.min_weight * 255);
  const raw = atob(DATA.weights);
  const W = new Uint8Array(raw.length);
  for (let k = 0; k < raw.length; k++) W[k] = raw.charCodeAt(k);
  const offset = (l, h) => (l * NH + h) * L * L;
  const rgb = DATA.colors.map(c => [1, 3, 5].map(k => parseInt(c.slice(k, k + 2), 16)));
  const svg = $("lines"), from = $("from"), to = $("to"), layerSel = $("layer");

  // controls: layer picker and one checkbox per head
  for (let l = 0; l < NL; l++) layerSel.add(new Option("layer " + l, String(l)));
  const boxes = [];
  for (let h = 0; h < NH; h++) {
    const label = document.createElement("label");
    label.className = "head";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.id = "head-" + h;
    box.checked = true;
    box.addEventListener("change", draw);
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = DATA.colors[h];
    label.append(box, swatch, " " + h);
    $("head-boxes").append(label);
    boxes.push(box);
  }
  const setHeads = on => { boxes.forEach((b, h) => { b.checked = on(h); }); draw(); };
  $("all-heads").addEventListener("click", () => setHeads(() => true));
  $("no-heads").addEventListener("click", () => setHeads(() => false));
  layerSel.addEventListener("change", draw);
  const layer = () => Number(layerSel.value);
  const selected = () => boxes.flatMap((b, h) => (b.checked ? [h] : []));

  // the two token columns (text set as text, never as markup) and the drawing between them
  const cells = { q: [], k: [] };
  for (const [side, column] of [["q", from], ["k", to]]) {
    tokens.forEach((t, i) => {
      const d = document.createElement("div");
      d.className = "tok";
      d.textContent = t;
      d.title = t;
      d.addEventListener("mouseenter", () => focus(side, i));
      d.addEventListener("mouseleave", unfocus);
      column.append(d);
      cells[side].push(d);
    });
  }
  svg.setAttribute("width", WIDTH);
  svg.setAttribute("height", L * ROW);
  svg.setAttribute("viewBox", "0 0 " + WIDTH + " " + L * ROW);
  const y = i => i * ROW + ROW / 2;

  // One string of <line>s parsed once: much faster than a DOM call per line. side/index: only
  // the lines from query `index` (side "q") or into key `index` (side "k").
  function markup(l, heads, side, index) {
    const parts = [];
    const [i0, i1] = side === "q" ? [index, index + 1] : [0, L];
    const [j0, j1] = side === "k" ? [index, index + 1] : [0, L];
    for (const h of heads) {
      const o = offset(l, h);
      parts.push('<g stroke="' + DATA.colors[h] + '">');
      for (let i = i0; i < i1; i++) {
        const row = o + i * L;
        for (let j = j0; j < j1; j++) {
          const q = W[row + j];
          if (q < MINQ) continue;
          const w = q / 255;
          parts.push('<line x1="0" y1="' + y(i) + '" x2="' + WIDTH + '" y2="' + y(j)
            + '" stroke-opacity="' + w.toFixed(3) + '" stroke-width="'
            + (0.5 + 2.5 * w).toFixed(2) + '"/>');
        }
      }
      parts.push("</g>");
    }
    return parts.join("");
  }
  let full = "";  // the current drawing of every line, restored when the pointer leaves a token
  let restore = 0;  // pending restore; moving straight onto the next token cancels it
  function draw() {
    clearTimeout(restore);
    full = markup(layer(), selected(), null, -1);
    svg.innerHTML = full;
    shade(null, -1);
    thumbs.forEach(t => {
      t.el.classList.toggle("on", t.l === layer() && boxes[t.h].checked);
    });
    return api.state();
  }
  function focus(side, index) {
    clearTimeout(restore);
    svg.innerHTML = markup(layer(), selected(), side, index);
    shade(side, index);
  }
  function unfocus() {
    clearTimeout(restore);
    restore = setTimeout(() => {
      svg.innerHTML = full;
      shade(null, -1);
    }, 40);
  }
  // shade the other column by the largest weight to/from the hovered token over the shown heads
  function shade(side, index) {
    for (const s of ["q", "k"]) cells[s].forEach(c => {
      c.style.background = "";
      c.classList.remove("focus");
    });
    if (side === null) return;
    cells[side][index].classList.add("focus");
    const other = side === "q" ? "k" : "q", heads = selected();
    for (let m = 0; m < L; m++) {
      let best = 0;
      for (const h of heads) {
        const o = offset(layer(), h);
        best = Math.max(best, side === "q" ? W[o + index * L + m] : W[o + m * L + index]);
      }
      if (best >= MINQ) cells[other][m].style.background = "rgba(70, 70, 70, "
        + (0.6 * best / 255).toFixed(3) + ")";
    }
  }

  // model view: one heatmap per layer and head, opaque (white = 0, the head's colour = 1)
  const grid = $("grid"), thumbs = [];
  grid.style.gridTemplateColumns = "auto repeat(" + NH + ", auto)";
  const label = text => {
    const d = document.createElement("div");
    d.className = "label";
    d.textContent = text;
    return d;
  };
  grid.append(label(""));
  for (let h = 0; h < NH; h++) grid.append(label("head " + h));
  for (let l = 0; l < NL; l++) {
    grid.append(label("layer " + l));
    for (let h = 0; h < NH; h++) {
      const el = document.createElement("button");
      el.type = "button";
      el.className = "thumb";
      el.id = "thumb-" + l + "-" + h;
      el.title = "layer " + l + ", head " + h + ": click to show in the head view";
      const canvas = document.createElement("canvas");
      paint(canvas, l, h);
      const caption = document.createElement("span");
      caption.textContent = "L" + l + " H" + h;
      el.append(canvas, caption);
      el.addEventListener("click", () => {
        layerSel.value = String(l);
        setHeads(k => k === h);
        const top = $("head-view").getBoundingClientRect().top;
        if (top < 0 || top > window.innerHeight) $("head-view").scrollIntoView();
      });
      grid.append(el);
      thumbs.push({ el, l, h });
    }
  }
  function paint(canvas, l, h) {
    canvas.width = L;
    canvas.height = L;
    if (L < THUMB) canvas.className = "small";  // blown up: sharp cells (shrunk: smoothed)
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(L, L), px = img.data, o = offset(l, h), c = rgb[h];
    for (let k = 0; k < L * L; k++) {
      const s = Math.sqrt(W[o + k] / 255);  // sqrt: small weights stay visible
      for (let ch = 0; ch < 3; ch++) px[4 * k + ch] = Math.round(255 - s * (255 - c[ch]));
      px[4 * k + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  const api = {
    layers: NL,
    heads: NH,
    tokens: tokens.slice(),
    state: () => ({
      layer: layer(),
      heads: selected(),
      lines: svg.getElementsByTagName("line").length,
    }),
    draw,
  };
  window.attentionViewer = api;
  draw();
  document.body.dataset.ready = "1";
}
try {
  main();
} catch (err) {
  const box = $("error");
  box.hidden = false;
  box.textContent = "The attention viewer failed: " + err;
  throw err;
}
})();
"""
