"""Blocks as one self-contained HTML page: inline CSS, no scripts, no external resources."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Sequence

from tamrin.eval.report.document import (
    Block,
    Cell,
    Code,
    Collapsed,
    Heading,
    Image,
    Link,
    Table,
    Text,
    numeric_columns,
)

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
  color:#1f2328;background:#fff;max-width:1040px;margin:2rem auto;padding:0 1.2rem;
  overflow-wrap:break-word}
h1{font-size:1.7rem;margin:.2rem 0 .4rem}
h2{font-size:1.3rem;border-bottom:1px solid #d0d7de;padding-bottom:.25rem;margin-top:2.2rem}
h3{font-size:1.05rem;margin-top:1.4rem}
.table{overflow-x:auto;max-width:100%;margin:.6rem 0 1rem}
.table:has(+ p.caption){margin-bottom:.2rem}
table{border-collapse:collapse;font-size:.92rem}
th,td{border:1px solid #d0d7de;padding:.3rem .65rem;text-align:left;vertical-align:top}
th{background:#f6f8fa;min-width:4.5em}
th.num,td.num{text-align:right;font-variant-numeric:tabular-nums}
td.num,#runs td{white-space:nowrap}
tr.avg td{background:#f6f8fa;font-weight:600}
p.caption{color:#59636e;font-size:.85rem;margin:0 0 1rem}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.86em}
code{background:#f6f8fa;padding:.1em .3em;border-radius:4px}
pre{background:#f6f8fa;padding:.8rem;overflow:auto;border-radius:6px}
figure{margin:1rem 0}
figure img{max-width:100%;height:auto;border:1px solid #eaeef2}
figcaption{color:#59636e;font-size:.88rem}
.warn{background:#fff1e5;border:1px solid #d1242f;border-left:6px solid #d1242f;padding:.7rem 1rem;
  border-radius:6px;font-weight:500}
.muted{color:#59636e}
details{margin:.6rem 0}
summary{cursor:pointer;font-weight:600}
.warn p,.muted p{margin:.2rem 0}
"""


def _text(text: str) -> str:
    """Escape for an HTML text node (quotes stay readable; attributes use html.escape)."""
    return html.escape(text, quote=False)


def _inline_html(text: str) -> str:
    """Escape `text` and turn `code` spans and **bold** into HTML (nothing else is Markdown)."""
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{_text(part[1:-1])}</code>")
        else:
            out.append(re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", _text(part)))
    return "".join(out)


def markdown_to_html(text: str) -> str:
    """Minimal Markdown: paragraphs split by blank lines, '- ' bullet lists, `code`, **bold**."""
    chunks = []
    for para in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in para.splitlines() if line.strip()]
        if lines and all(line.startswith(("- ", "* ")) for line in lines):
            items = "".join(f"<li>{_inline_html(line[2:])}</li>" for line in lines)
            chunks.append(f"<ul>{items}</ul>")
        elif lines:
            chunks.append(f"<p>{_inline_html(' '.join(lines))}</p>")
    return "\n".join(chunks)


def _breakable(text: str) -> str:
    """Escaped text that may wrap after '.', '_' or '/' before a letter: 'test.per_class.f1' in
    a narrow column breaks into 'test.' 'per_' 'class.' 'f1' instead of widening the table
    (numbers and versions such as '0.6543' or '2.13.0' stay whole)."""
    return re.sub(r"([._/])(?=[A-Za-z])", r"\1<wbr>", _text(text))


def _cell_html(cell: Cell, tag: str, numeric: bool = False) -> str:
    """One cell; header names (long metric keys) may wrap at dots, body cells stay verbatim."""
    cls = ' class="num"' if numeric else ""
    text = _breakable if tag == "th" else _text
    if isinstance(cell, Link):
        inner = f'<a href="{html.escape(cell.href)}">{text(cell.text)}</a>'
        return f"<{tag}{cls}>{inner}</{tag}>"
    return f"<{tag}{cls}>{text(cell)}</{tag}>"


def _html_blocks(blocks: Sequence[Block]) -> Iterator[str]:
    for b in blocks:
        if isinstance(b, Heading):
            yield f"<h{b.level}>{_text(b.text)}</h{b.level}>"
        elif isinstance(b, Text):
            body = markdown_to_html(b.text)
            yield f'<div class="{b.style}">{body}</div>' if b.style else body
        elif isinstance(b, Table):
            ident = f' id="{html.escape(b.id)}"' if b.id else ""
            numeric = numeric_columns(b)
            head = "".join(
                _cell_html(c, "th", num) for c, num in zip(b.columns, numeric, strict=True)
            )
            rows = []
            for row in b.rows:
                avg = ' class="avg"' if row and row[0] in ("macro avg", "weighted avg") else ""
                cells = "".join(
                    _cell_html(c, "td", j < len(numeric) and numeric[j]) for j, c in enumerate(row)
                )
                rows.append(f"<tr{avg}>{cells}</tr>")
            caption = f'<p class="caption">{_inline_html(b.caption)}</p>' if b.caption else ""
            yield (  # the box scrolls sideways when the table is wider than the page
                f'<div class="table"><table{ident}><thead><tr>{head}</tr></thead>'
                f"<tbody>{''.join(rows)}</tbody></table></div>{caption}"
            )
        elif isinstance(b, Image):
            yield (
                f'<figure><img src="{html.escape(b.src)}" alt="{html.escape(b.caption)}">'
                f"<figcaption>{_inline_html(b.caption)}</figcaption></figure>"
            )
        elif isinstance(b, Collapsed):
            inner = "\n".join(_html_blocks(b.body))
            yield f"<details><summary>{_text(b.summary)}</summary>\n{inner}\n</details>"
        elif isinstance(b, Code):
            yield f"<pre><code>{_text(b.text)}</code></pre>"


def render_html(title: str, blocks: Sequence[Block]) -> str:
    """A self-contained HTML page: inline CSS, no scripts, no external resources."""
    body = "\n".join(_html_blocks(blocks))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"{body}\n</body>\n</html>\n"
    )
