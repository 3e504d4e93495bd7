"""Run reports (HTML + Markdown) rebuilt from a run folder alone; multi-seed group reports.

`write_report(run_dir)` is what `tamrin report RUN_DIR` calls and what the runner calls at the end
of every run. It redraws `figures/curves.png`, `figures/confusion.png` and `figures/roc.png`, then
writes `report.html` (self-contained: inline CSS, relative PNG paths, no scripts, no external
URLs) and `report.md` (the same numbers in Markdown tables). Every number shown is read from
`metrics.json` / `history.csv` and formatted by `fmt`; nothing is recomputed except the drawing.

Both reports come from one list of blocks (headings, text, tables, images), so the two formats
cannot drift apart: each number is formatted once and rendered twice.
"""

from __future__ import annotations

import csv
import html
import json
import math
import os
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from tamrin.config import lookup
from tamrin.errors import RunDirError
from tamrin.eval.figures import confusion_figure, curves_figure, roc_figure
from tamrin.eval.metrics import mean_std

# metrics.json sections the report lays out itself; any other top-level key is shown as a table.
_KNOWN_SECTIONS = frozenset(
    {
        "status",
        "status_message",
        "wall_time_s",
        "train_time_s",
        "epochs_run",
        "best",
        "final",
        "test",
        "tables",
        "notes",
        "figures",
    }
)
# keys of classification_metrics' dict that the test section lays out itself
_CLASSIFICATION_KEYS = frozenset(
    {
        "n",
        "accuracy",
        "balanced_accuracy",
        "macro_precision",
        "macro_recall",
        "macro_f1",
        "weighted_precision",
        "weighted_recall",
        "weighted_f1",
        "roc_auc_macro",
        "log_loss",
        "class_names",
        "per_class",
        "confusion",
        "confusion_normalized",
    }
)
_STATUS_WORDS = {
    "completed": "completed",
    "stopped_nonfinite": "stopped early: the loss became NaN or infinite",
    "interrupted": "interrupted before it finished",
}
_DPI = 110
_NUMBER = r"([-+]?\d+(\.\d+)?(e[-+]?\d+)?|NaN|-?inf)"
_NUMERIC = re.compile(rf"^{_NUMBER}( ± {_NUMBER})?$")  # cells right-aligned in tables


# ----------------------------------------------------------------------------- number formatting


def fmt(value: Any) -> str:
    """One number format for both reports: ints as is, floats to 4 decimals (2 decimals from 100,
    significant digits for tiny or huge values), None as an em dash, NaN/inf spelled out."""
    if value is None:
        return "—"
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v == 0 or 1e-3 <= abs(v) < 100:
            return f"{v:.4f}"
        if 100 <= abs(v) < 1e6:
            return f"{v:.2f}"
        return f"{v:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, default=str)
    return str(value)


def fmt_diff(value: Any) -> str:
    """A signed difference to 4 decimals ('+0.0100'); rounding noise shows as '+0.0000'."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    if not math.isfinite(value):
        return fmt(float(value))
    return f"{round(float(value), 4) + 0.0:+.4f}"


def fmt_seconds(seconds: Any) -> str:
    """'118.2 s (1 min 58 s)': seconds to one decimal, with minutes/hours where they help."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return "—"
    s = float(seconds)
    if not math.isfinite(s):
        return fmt(s)
    text = f"{s:.1f} s"
    whole = round(s)
    if whole >= 3600:
        text += f" ({whole // 3600} h {whole % 3600 // 60:02d} min)"
    elif whole >= 60:
        text += f" ({whole // 60} min {whole % 60:02d} s)"
    return text


# ----------------------------------------------------------------------------- reading a run folder


@dataclass
class RunFolder:
    """Everything a report needs, read from one run folder."""

    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    columns: list[str]
    predictions: dict[str, np.ndarray] | None = None


def _read_json(path: Path, folder: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise RunDirError(f"not a tamrin {what} folder: {folder} has no {path.name}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunDirError(
            f"damaged {what} folder: {path} is not valid JSON ({e}); restore the file or rerun"
        ) from None
    if not isinstance(data, dict):
        raise RunDirError(
            f"damaged {what} folder: {path} should hold a JSON object, got {type(data).__name__}"
        )
    return data


def _cell(text: str | None) -> Any:
    """A history.csv cell as int, float or (non-numeric) str; empty cells become None."""
    if text is None or text.strip() == "":
        return None
    t = text.strip()
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t


def read_history(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows) of history.csv with numbers parsed; an empty file has no columns or rows."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = [{k: _cell(v) for k, v in row.items() if k is not None} for row in reader]
            columns = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise RunDirError(f"damaged run folder: cannot read {path} ({e})") from None
    return columns, rows


def _read_predictions(path: Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            out = {k: npz[k] for k in ("y_true", "proba", "class_names")}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise RunDirError(
            f"damaged run folder: {path} should hold y_true, proba and class_names "
            f"({e}); delete it to report without ROC curves"
        ) from None
    y, p, names = out["y_true"], out["proba"], out["class_names"]
    if p.ndim != 2 or y.shape != (p.shape[0],) or names.shape != (p.shape[1],):
        raise RunDirError(
            f"damaged run folder: {path} has y_true {y.shape}, proba {p.shape}, "
            f"class_names {names.shape}; expected (n,), (n, K), (K,)"
        )
    return out


def load_run(run_dir: Path) -> RunFolder:
    """Read config.json, metrics.json, history.csv and the optional predictions.npz of a run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"not a tamrin run folder: {run_dir} does not exist or is not a folder")
    metrics = _read_json(run_dir / "metrics.json", run_dir, "run")
    config = _read_json(run_dir / "config.json", run_dir, "run")
    history_path = run_dir / "history.csv"
    if not history_path.is_file():
        raise RunDirError(f"not a tamrin run folder: {run_dir} has no history.csv")
    columns, history = read_history(history_path)
    predictions = _read_predictions(run_dir / "predictions.npz")
    return RunFolder(run_dir, config, metrics, history, columns, predictions)


# ----------------------------------------------------------------------------- document blocks


@dataclass
class Link:
    """A table cell that links to another file (relative href)."""

    text: str
    href: str


Cell = str | Link


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Text:
    """A paragraph in minimal Markdown (`code`, **bold**, '- ' lists); style '', 'warn' or 'muted'.

    Muted text is grey in HTML and plain in Markdown.
    """

    text: str
    style: str = ""


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    caption: str = ""
    id: str = ""


@dataclass
class Image:
    src: str  # relative to the report, posix separators
    caption: str


@dataclass
class Collapsed:
    """Content hidden behind a summary line (<details> in both HTML and Markdown)."""

    summary: str
    body: list[Any] = field(default_factory=list)


@dataclass
class Code:
    text: str
    language: str = ""


Block = Heading | Text | Table | Image | Collapsed | Code


# ----------------------------------------------------------------------------- rendering


_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
  color:#1f2328;background:#fff;max-width:1040px;margin:2rem auto;padding:0 1.2rem}
h1{font-size:1.7rem;margin:.2rem 0 .4rem}
h2{font-size:1.3rem;border-bottom:1px solid #d0d7de;padding-bottom:.25rem;margin-top:2.2rem}
h3{font-size:1.05rem;margin-top:1.4rem}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.92rem}
th,td{border:1px solid #d0d7de;padding:.3rem .65rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
th.num,td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.avg td{background:#f6f8fa;font-weight:600}
table:has(+ p.caption){margin-bottom:.2rem}
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


def _numeric_columns(table: Table) -> list[bool]:
    """Which columns hold only numbers (or dashes): those are right-aligned in both formats."""
    out = []
    for j in range(len(table.columns)):
        cells = [row[j] for row in table.rows if j < len(row)]
        filled = [c for c in cells if not (isinstance(c, str) and c in ("", "—"))]
        out.append(bool(filled) and all(isinstance(c, str) and _NUMERIC.match(c) for c in filled))
    return out


def _cell_html(cell: Cell, tag: str, numeric: bool = False) -> str:
    cls = ' class="num"' if numeric else ""
    if isinstance(cell, Link):
        inner = f'<a href="{html.escape(cell.href)}">{html.escape(cell.text)}</a>'
        return f"<{tag}{cls}>{inner}</{tag}>"
    return f"<{tag}{cls}>{_text(cell)}</{tag}>"


def _html_blocks(blocks: Sequence[Block]) -> Iterator[str]:
    for b in blocks:
        if isinstance(b, Heading):
            yield f"<h{b.level}>{_text(b.text)}</h{b.level}>"
        elif isinstance(b, Text):
            body = markdown_to_html(b.text)
            yield f'<div class="{b.style}">{body}</div>' if b.style else body
        elif isinstance(b, Table):
            ident = f' id="{html.escape(b.id)}"' if b.id else ""
            numeric = _numeric_columns(b)
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
            yield (
                f"<table{ident}><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>{caption}"
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
            aligns = ["---:" if num else "---" for num in _numeric_columns(b)]
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


def write_text(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a reader never sees half a report."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def save_figure(fig: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=_DPI, format="png")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- the run report


def _class_names(test: Mapping[str, Any]) -> list[str]:
    names = test.get("class_names")
    if isinstance(names, list):
        return [str(n) for n in names]
    return [str(pc.get("class", i)) for i, pc in enumerate(test.get("per_class") or [])]


def _write_figures(run: RunFolder) -> dict[str, str]:
    """Redraw the standard figures that the folder has data for; {name: relative path}."""
    written: dict[str, str] = {}
    figures = run.path / "figures"
    if run.history:
        save_figure(curves_figure(run.history, run.metrics.get("best")), figures / "curves.png")
        written["curves"] = "figures/curves.png"
    test = run.metrics.get("test")
    if isinstance(test, Mapping) and test.get("confusion") and test.get("confusion_normalized"):
        fig = confusion_figure(test["confusion_normalized"], test["confusion"], _class_names(test))
        save_figure(fig, figures / "confusion.png")
        written["confusion"] = "figures/confusion.png"
    if isinstance(test, Mapping) and run.predictions is not None:
        pred = run.predictions
        names = [str(n) for n in pred["class_names"]]
        aucs = [pc.get("auc") for pc in test.get("per_class") or []]
        save_figure(roc_figure(pred["y_true"], pred["proba"], names, aucs), figures / "roc.png")
        written["roc"] = "figures/roc.png"
    return written


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _kv_table(data: Mapping[str, Any], caption: str = "", id: str = "") -> Table:
    return Table(["key", "value"], [[k, fmt(v)] for k, v in _flatten(data)], caption, id)


def _headline_blocks(config: Mapping[str, Any], metrics: Mapping[str, Any]) -> list[Block]:
    seed = config.get("seed_figure") if isinstance(config.get("seed_figure"), Mapping) else None
    keys = [str(k) for k in config.get("headline") or []]
    if seed and seed.get("metric") and seed["metric"] not in keys:
        keys.append(str(seed["metric"]))
    if not keys:
        return [Text("No headline metrics are named in config.json.", "muted")]
    rows: list[list[Cell]] = []
    for key in keys:
        theirs = seed.get("value") if seed and seed.get("metric") == key else None
        rows.append([key, fmt(lookup(metrics, key)), fmt(theirs)])
    blocks: list[Block] = [Table(["metric", "ours", "seed's figure"], rows, id="headline")]
    if seed and seed.get("text"):
        blocks.append(Text(f"The seed reported: {seed['text']}", "muted"))
    return blocks


def _status_blocks(metrics: Mapping[str, Any]) -> list[Block]:
    status = str(metrics.get("status") or "unknown")
    if status == "completed":
        return []
    words = _STATUS_WORDS.get(status, f"ended with status '{status}'")
    message = str(metrics.get("status_message") or "").strip()
    text = f"**This run did not complete ({status}): it {words}.**"
    if message:
        text += f"\n{message}"
    return [Text(text, "warn")]


def _best_sentence(metrics: Mapping[str, Any]) -> str:
    best = metrics.get("best")
    runs = metrics.get("epochs_run")
    of = f" of {fmt(runs)}" if runs is not None else ""
    if not isinstance(best, Mapping) or best.get("epoch") is None:
        return f"No best epoch was recorded ({fmt(runs)} epochs run)."
    by = f"{best.get('mode')} {best.get('metric')}" if best.get("mode") else str(best.get("metric"))
    return (
        f"Best epoch: **{fmt(best['epoch'])}**{of}, chosen by {by} = **{fmt(best.get('value'))}**."
    )


def _time_sentence(metrics: Mapping[str, Any]) -> str:
    text = f"Wall time: {fmt_seconds(metrics.get('wall_time_s'))}"
    if metrics.get("train_time_s") is not None:
        text += f", of which training {fmt_seconds(metrics.get('train_time_s'))}"
    return text + "."


def _test_blocks(test: Mapping[str, Any], figures: Mapping[str, str]) -> list[Block]:
    blocks: list[Block] = [Heading("Test set")]
    facts = [
        ("test examples", test.get("n")),
        ("accuracy", test.get("accuracy")),
        ("balanced accuracy", test.get("balanced_accuracy")),
        ("macro ROC AUC", test.get("roc_auc_macro")),
        ("log loss", test.get("log_loss")),
    ]
    shown = [f"{name} **{fmt(v)}**" for name, v in facts if v is not None]
    if shown:
        blocks.append(Text(" · ".join(shown)))
    per_class = test.get("per_class") or []
    if per_class:
        rows: list[list[Cell]] = [
            [
                str(pc.get("class")),
                fmt(pc.get("precision")),
                fmt(pc.get("recall")),
                fmt(pc.get("f1")),
                fmt(pc.get("support")),
                fmt(pc.get("auc")),
            ]
            for pc in per_class
        ]
        for avg, auc in (("macro", test.get("roc_auc_macro")), ("weighted", None)):
            rows.append(
                [
                    f"{avg} avg",
                    fmt(test.get(f"{avg}_precision")),
                    fmt(test.get(f"{avg}_recall")),
                    fmt(test.get(f"{avg}_f1")),
                    fmt(test.get("n")),
                    fmt(auc),
                ]
            )
        blocks += [
            Heading("Classification report", 3),
            Table(
                ["class", "precision", "recall", "F1", "support", "AUC (one vs rest)"],
                rows,
                id="classification",
                caption="AUC is — for a class absent from the test set; the macro AUC "
                "averages the classes present.",
            ),
        ]
    rest = {k: v for k, v in test.items() if k not in _CLASSIFICATION_KEYS}
    if rest:
        blocks += [Heading("Other test values", 3), _kv_table(rest, id="test-other")]
    if "confusion" in figures:
        blocks += [
            Heading("Confusion matrix", 3),
            Image(
                figures["confusion"],
                "Confusion matrix on the test set: counts and fraction of each true class.",
            ),
        ]
    if "roc" in figures:
        blocks += [
            Heading("ROC curves", 3),
            Image(figures["roc"], "One-vs-rest ROC curve per class; AUC in the legend."),
        ]
    return blocks


def _table_block(name: str, spec: Any) -> list[Block]:
    if not isinstance(spec, Mapping):
        return [Heading(name, 3), Text(f"(table '{name}' is not an object: {fmt(spec)})", "muted")]
    columns = [str(c) for c in spec.get("columns") or []]
    rows: list[list[Cell]] = [[fmt(c) for c in row] for row in spec.get("rows") or []]
    return [Heading(name, 3), Table(columns, rows, str(spec.get("caption") or ""))]


def _extra_figure_blocks(run_dir: Path, entries: Any) -> list[Block]:
    blocks: list[Block] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping) or not entry.get("file"):
            continue
        rel = Path(str(entry["file"]))
        caption = str(entry.get("caption") or rel.name)
        if rel.is_absolute() or ".." in rel.parts:
            blocks.append(Text(f"(figure `{rel}` skipped: it must lie inside the run folder)"))
        elif not (run_dir / rel).is_file():
            blocks.append(
                Text(f"(figure `{rel.as_posix()}` is missing from the run folder)", "muted")
            )
        else:
            blocks.append(Image(rel.as_posix(), caption))
    return blocks


def run_report_blocks(run: RunFolder, figures: Mapping[str, str]) -> list[Block]:
    """The report of one run as blocks, in reading order (top facts first, config last)."""
    cfg, m = run.config, run.metrics
    recipe = str(cfg.get("recipe") or run.path.name)
    blocks: list[Block] = [Heading(recipe, 1)]
    if cfg.get("summary"):
        blocks.append(Text(str(cfg["summary"])))
    started = f" · started {cfg['started']}" if cfg.get("started") else ""
    blocks.append(
        Text(
            f"seed {fmt(cfg.get('seed'))}{started} · status "
            f"**{m.get('status', 'unknown')}** · folder `{run.path.name}`",
            "muted",
        )
    )
    if cfg.get("smoke"):
        blocks.append(
            Text(
                "**Smoke run**: data and model were shrunk to test the code path; "
                "the numbers below say nothing about the method.",
                "warn",
            )
        )
    blocks += _status_blocks(m)
    blocks += [Heading("Headline"), *_headline_blocks(cfg, m)]
    blocks += [Text(_best_sentence(m)), Text(_time_sentence(m))]

    blocks.append(Heading("Training curves"))
    if "curves" in figures:
        blocks.append(
            Image(
                figures["curves"],
                "Loss and accuracy per epoch; the dotted line marks the best epoch.",
            )
        )
    else:
        blocks.append(Text("history.csv has no epochs, so there are no curves.", "muted"))
    final = m.get("final")
    if isinstance(final, Mapping) and final:
        blocks.append(
            Table(
                list(map(str, final)),
                [[fmt(v) for v in final.values()]],
                "Last epoch (the last row of history.csv).",
                id="final",
            )
        )
    if run.history:
        rows: list[list[Cell]] = [[fmt(row.get(c)) for c in run.columns] for row in run.history]
        blocks.append(
            Collapsed(
                f"Every epoch ({len(run.history)} rows of history.csv)",
                [Table(run.columns, rows, id="history")],
            )
        )

    test = m.get("test")
    if isinstance(test, Mapping):
        blocks += _test_blocks(test, figures)
    else:
        blocks += [Heading("Test set"), Text("This run has no test evaluation.", "muted")]

    tables = m.get("tables")
    others = {k: v for k, v in m.items() if k not in _KNOWN_SECTIONS}
    sections = {k: v for k, v in others.items() if isinstance(v, Mapping)}
    scalars = {k: v for k, v in others.items() if not isinstance(v, Mapping)}
    if (isinstance(tables, Mapping) and tables) or others:
        blocks.append(Heading("More results"))
        for name, spec in (tables or {}).items() if isinstance(tables, Mapping) else []:
            blocks += _table_block(str(name), spec)
        for name, section in sections.items():
            blocks += [Heading(str(name), 3), _kv_table(section)]
        if scalars:
            blocks += [Heading("Other values", 3), _kv_table(scalars)]

    notes = m.get("notes")
    if isinstance(notes, list) and notes:
        blocks.append(Heading("Notes"))
        blocks += [Text(str(note)) for note in notes]
    extra = _extra_figure_blocks(run.path, m.get("figures"))
    if extra:
        blocks += [Heading("More figures"), *extra]

    blocks.append(Heading("Configuration and environment"))
    resolved = json.dumps(cfg.get("config", {}), indent=2, sort_keys=False, default=str)
    blocks.append(Collapsed("Resolved config", [Code(resolved, "json")]))
    env_keys = (
        "tamrin_version",
        "torch_version",
        "device",
        "threads",
        "git_commit",
        "started",
        "seed",
        "smoke",
    )
    blocks.append(_kv_table({k: cfg.get(k) for k in env_keys}, id="environment"))
    blocks.append(
        Text(
            "Generated by `tamrin report` from this folder's metrics.json and "
            "history.csv; every number above is read from those files.",
            "muted",
        )
    )
    return blocks


def write_report(run_dir: Path) -> tuple[Path, Path]:
    """Redraw the figures and write report.html and report.md of a run folder; returns both paths.

    Raises RunDirError when the folder is not a run folder or a file in it is damaged.
    """
    run = load_run(Path(run_dir))
    figures = _write_figures(run)
    blocks = run_report_blocks(run, figures)
    title = f"{run.config.get('recipe') or run.path.name} — seed {fmt(run.config.get('seed'))}"
    html_path, md_path = run.path / "report.html", run.path / "report.md"
    write_text(html_path, render_html(title, blocks))
    write_text(md_path, render_markdown(blocks))
    return html_path, md_path


# ----------------------------------------------------------------------------- multi-seed groups


def _number_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def summarize_runs(run_dirs: Sequence[Path], relative_to: Path | None = None) -> dict[str, Any]:
    """The summary.json dict of a multi-seed group: mean ± std of each headline metric over runs.

    Headline keys come from the first run's config.json. `runs` lists the folders relative to
    `relative_to` (the group folder, so the group travels with its runs) when given.
    """
    if not run_dirs:
        raise ValueError("summarize_runs needs at least one run folder")
    configs, metrics = [], []
    for d in run_dirs:
        d = Path(d)
        metrics.append(_read_json(d / "metrics.json", d, "run"))
        configs.append(_read_json(d / "config.json", d, "run"))
    first = configs[0]
    recipes = {c.get("recipe") for c in configs}
    if len(recipes) > 1:
        names = sorted(map(str, recipes))
        raise RunDirError(f"a seed group must hold runs of one recipe; got {names}")
    keys = [str(k) for k in first.get("headline") or []]
    seed_fig = first.get("seed_figure")
    if isinstance(seed_fig, Mapping) and seed_fig.get("metric") and seed_fig["metric"] not in keys:
        keys.append(str(seed_fig["metric"]))
    headline = {k: mean_std([_number_or_none(lookup(m, k)) for m in metrics]) for k in keys}
    times = {
        k: mean_std([_number_or_none(m.get(k)) for m in metrics])
        for k in ("wall_time_s", "train_time_s")
    }
    runs = [
        os.path.relpath(Path(d), relative_to) if relative_to is not None else str(d)
        for d in run_dirs
    ]
    return {
        "recipe": first.get("recipe"),
        "summary": first.get("summary"),
        "seed_figure": seed_fig,
        "seeds": [c.get("seed") for c in configs],
        "runs": [Path(r).as_posix() for r in runs],
        "headline": headline,
        "time": times,
        "wall_time_s": float(sum(t for t in times["wall_time_s"]["values"] if t is not None)),
    }


def _resolve_run(group_dir: Path, run: str) -> Path:
    path = Path(run)
    if path.is_absolute():
        return path
    return group_dir / path if (group_dir / path).exists() or not path.exists() else path


def _mean_pm_std(stats: Mapping[str, Any]) -> str:
    if stats.get("mean") is None:
        return "—"
    return f"{fmt(stats.get('mean'))} ± {fmt(stats.get('std'))}"


def _read_run_metrics(folder: Path) -> dict[str, Any]:
    """A group member's metrics.json; a missing or damaged one shows as a status, not a crash."""
    try:
        return _read_json(folder / "metrics.json", folder, "run")
    except RunDirError:
        return {"status": "run folder missing or damaged"}


def _seconds_pm(stats: Mapping[str, Any]) -> str:
    mean, std = stats.get("mean"), stats.get("std")
    if not isinstance(mean, int | float) or not isinstance(std, int | float):
        return "—"
    return f"{mean:.1f} ± {std:.1f} s"


def group_report_blocks(group_dir: Path, summary: Mapping[str, Any]) -> list[Block]:
    """The multi-seed report as blocks: mean ± std, seed comparison, one row per seed."""
    recipe = str(summary.get("recipe") or group_dir.name)
    seeds = list(summary.get("seeds") or [])
    runs = [str(r) for r in summary.get("runs") or []]
    headline = summary.get("headline") or {}
    seed_fig = summary.get("seed_figure")
    seed_fig = seed_fig if isinstance(seed_fig, Mapping) else None
    blocks: list[Block] = [Heading(f"{recipe} — {len(runs)} seeds", 1)]
    if summary.get("summary"):
        blocks.append(Text(str(summary["summary"])))
    blocks.append(
        Text(
            f"seeds {fmt(seeds)} · total wall time {fmt_seconds(summary.get('wall_time_s'))}",
            "muted",
        )
    )
    folders = [_resolve_run(group_dir, run) for run in runs]
    run_metrics = [_read_run_metrics(folder) for folder in folders]
    unfinished = [str(m.get("status")) for m in run_metrics if m.get("status") != "completed"]
    if unfinished:
        blocks.append(
            Text(
                f"**{len(unfinished)} of {len(runs)} runs did not complete** "
                f"({', '.join(unfinished)}); see the table of runs.",
                "warn",
            )
        )

    blocks.append(Heading("Headline over seeds"))
    rows: list[list[Cell]] = []
    for key, stats in headline.items():
        stats = stats if isinstance(stats, Mapping) else {}
        theirs = seed_fig.get("value") if seed_fig and seed_fig.get("metric") == key else None
        mean = stats.get("mean")
        diff = (
            mean - theirs
            if isinstance(mean, int | float) and isinstance(theirs, int | float)
            else None
        )
        rows.append([key, _mean_pm_std(stats), fmt(stats.get("n")), fmt(theirs), fmt_diff(diff)])
    blocks.append(
        Table(
            ["metric", "ours (mean ± std)", "runs", "seed's figure", "ours − seed"],
            rows,
            "Mean and sample standard deviation (ddof=1) over seeds.",
            id="headline",
        )
    )
    if seed_fig and seed_fig.get("text"):
        blocks.append(Text(f"The seed reported: {seed_fig['text']}", "muted"))
    times = summary.get("time")
    if isinstance(times, Mapping):
        parts = [
            f"{name.removesuffix('_s').replace('_', ' ')} {_seconds_pm(st)}"
            for name, st in times.items()
            if isinstance(st, Mapping)
        ]
        if parts:
            blocks.append(Text("Per run: " + " · ".join(parts) + "."))

    blocks.append(Heading("Runs"))
    keys = list(headline)
    run_rows: list[list[Cell]] = []
    for i, (folder, metrics) in enumerate(zip(folders, run_metrics, strict=True)):
        values = [
            (headline[k].get("values") or []) if isinstance(headline[k], Mapping) else []
            for k in keys
        ]
        cells: list[Cell] = [fmt(seeds[i] if i < len(seeds) else None)]
        cells += [fmt(v[i] if i < len(v) else None) for v in values]
        cells += [fmt(metrics.get("status")), fmt_seconds(metrics.get("wall_time_s"))]
        report = folder / "report.html"
        href = Path(os.path.relpath(report, group_dir)).as_posix()
        cells.append(Link("report", href) if report.is_file() else "report missing")
        run_rows.append(cells)
    blocks.append(Table(["seed", *keys, "status", "wall time", "report"], run_rows, id="seeds"))
    blocks.append(
        Text(
            "Generated by `tamrin report` from summary.json (the per-seed metric values "
            "are those the means were taken over) and each run's metrics.json.",
            "muted",
        )
    )
    return blocks


def write_group_report(group_dir: Path) -> tuple[Path, Path]:
    """Write report.html and report.md of a multi-seed group folder (reads its summary.json)."""
    group_dir = Path(group_dir)
    if not group_dir.is_dir():
        raise RunDirError(
            f"not a tamrin seed-group folder: {group_dir} does not exist or is not a folder"
        )
    summary = _read_json(group_dir / "summary.json", group_dir, "seed-group")
    blocks = group_report_blocks(group_dir, summary)
    title = f"{summary.get('recipe') or group_dir.name} — seeds {fmt(summary.get('seeds'))}"
    html_path, md_path = group_dir / "report.html", group_dir / "report.md"
    write_text(html_path, render_html(title, blocks))
    write_text(md_path, render_markdown(blocks))
    return html_path, md_path
