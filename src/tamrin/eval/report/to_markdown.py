"""Blocks as GitHub-flavoured Markdown (tables, image links, <details>)."""

from __future__ import annotations

import html
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


def _cell_md(cell: Cell) -> str:
    if isinstance(cell, Link):
        return f"[{cell.text}]({cell.href})"
    return cell.replace("|", "\\|").replace("\n", " ")


def _md_blocks(blocks: Sequence[Block]) -> Iterator[str]:
    for b in blocks:
        if isinstance(b, Heading):
            yield f"{'#' * b.level} {b.text}"
        elif isinstance(b, Text):
            if b.style == "warn":
                yield "\n".join(f"> {line}" if line else ">" for line in b.text.splitlines())
            else:
                yield b.text
        elif isinstance(b, Table):
            head = "| " + " | ".join(_cell_md(c) for c in b.columns) + " |"
            aligns = ["---:" if num else "---" for num in numeric_columns(b)]
            lines = [head, "| " + " | ".join(aligns) + " |"]
            lines += ["| " + " | ".join(_cell_md(c) for c in row) + " |" for row in b.rows]
            if b.caption:
                lines += ["", f"*{b.caption}*"]
            yield "\n".join(lines)
        elif isinstance(b, Image):
            yield f"![{b.caption}]({b.src})\n\n*{b.caption}*"
        elif isinstance(b, Collapsed):
            inner = "\n\n".join(_md_blocks(b.body))
            yield f"<details><summary>{html.escape(b.summary)}</summary>\n\n{inner}\n\n</details>"
        elif isinstance(b, Code):
            yield f"```{b.language}\n{b.text}\n```"


def render_markdown(blocks: Sequence[Block]) -> str:
    """The same blocks as GitHub-flavoured Markdown (tables, image links, <details>)."""
    return "\n\n".join(_md_blocks(blocks)) + "\n"
