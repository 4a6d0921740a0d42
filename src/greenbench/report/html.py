"""The Snakemake report's pages: the paper's Markdown outputs (answer, claims, tables, cost) as HTML
fragments the report shows inline (it shows .md files only as downloads), and the overview its
landing page includes (the answer, then what the study cost). Pure: no Snakemake, no third-party
Markdown package (the generated Markdown uses headings, paragraphs, lists, pipe tables, bold,
italics and code only)."""

from __future__ import annotations

import html
import re
from pathlib import Path

from greenbench.core import io

PAGES = ("answer", "footprint", "claims", "tables")  # results/paper/<name>.md -> <name>.html

CSS = """<style>
.gb { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 14px; line-height: 1.45;
      color: #222; max-width: 100%; }
.gb h1 { font-size: 1.35em; margin: 0.4em 0; } .gb h2 { font-size: 1.15em; margin: 1.1em 0 0.4em; }
.gb h3 { font-size: 1.0em; }
.gb table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 12.5px; }
.gb th, .gb td { border: 1px solid #ccc; padding: 2px 6px; vertical-align: top; }
.gb th { background: #f2f2f2; } .gb tr:nth-child(even) td { background: #fafafa; }
.gb td.num { text-align: right; font-variant-numeric: tabular-nums; }
.gb code { background: #f3f3f3; padding: 0 3px; border-radius: 3px; font-size: 0.95em; }
.gb code::before, .gb code::after { content: none; }
</style>"""


def _inline(text: str) -> str:
    """Code spans (kept verbatim), then bold and italics, which may enclose code spans."""
    codes = []

    def stash(m):
        codes.append(f"<code>{html.escape(m.group(1), quote=False)}</code>")
        return f"\x00{len(codes) - 1}\x00"

    text = _emphasis(html.escape(re.sub(r"`([^`]+)`", stash, text), quote=False))
    return re.sub("\x00(\\d+)\x00", lambda m: codes[int(m.group(1))], text)


def _emphasis(text: str) -> str:
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", text)
    return text


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)]


_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_NUMBER = re.compile(r"^[-+−]?[\d.,]+(e[-+]?\d+)?%?$", re.I)


def _table(lines: list[str]) -> str:
    head, rows = _cells(lines[0]), [_cells(line) for line in lines[2:]]
    align = [
        "num" if rows and all(_NUMBER.match(r[i]) for r in rows if i < len(r) and r[i]) else ""
        for i in range(len(head))
    ]
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{_inline(h)}</th>" for h in head) + "</tr></thead>", "<tbody>"]
    for r in rows:
        out.append(
            "<tr>"
            + "".join(
                f'<td class="{a}">{_inline(c)}</td>' if a else f"<td>{_inline(c)}</td>"
                for c, a in zip(r, align + [""] * len(r))
            )
            + "</tr>"
        )
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def markdown_to_html(text: str) -> str:
    """The Markdown subset the paper writes, as an HTML fragment."""
    lines = text.splitlines()
    out, i, para = [], 0, []

    def flush():
        if para:
            out.append(f"<p>{_inline(' '.join(para))}</p>")
            para.clear()

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            flush()
            i += 1
        elif m := re.match(r"^(#{1,6})\s+(.*)$", stripped):
            flush()
            level = len(m.group(1))
            out.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
            i += 1
        elif stripped.startswith("|") and i + 1 < len(lines) and _RULE.match(lines[i + 1]):
            flush()
            j = i + 2
            while j < len(lines) and lines[j].strip().startswith("|"):
                j += 1
            out.append(_table(lines[i:j]))
            i = j
        elif re.match(r"^[-*]\s+", stripped):
            flush()
            items = []
            while i < len(lines) and (
                re.match(r"^\s*[-*]\s+", lines[i]) or (lines[i].startswith("  ") and lines[i].strip() and items)
            ):
                if re.match(r"^\s*[-*]\s+", lines[i]):
                    items.append(re.sub(r"^\s*[-*]\s+", "", lines[i]))
                else:
                    items[-1] += " " + lines[i].strip()
                i += 1
            out.append("<ul>\n" + "\n".join(f"<li>{_inline(t)}</li>" for t in items) + "\n</ul>")
        elif re.match(r"^\d+\.\s+", stripped):
            flush()
            items = []
            while i < len(lines) and re.match(r"^\s*\d+\.\s+", lines[i]):
                items.append(re.sub(r"^\s*\d+\.\s+", "", lines[i]))
                i += 1
            out.append("<ol>\n" + "\n".join(f"<li>{_inline(t)}</li>" for t in items) + "\n</ol>")
        else:
            para.append(stripped)
            i += 1
    flush()
    return "\n".join(out)


def page(markdown: str) -> str:
    """A self-contained fragment (UTF-8, scoped style) for the report's inline view."""
    return f'<!DOCTYPE html>\n<meta charset="utf-8">\n{CSS}\n<div class="gb">\n{markdown_to_html(markdown)}\n</div>\n'


def first_section(markdown: str) -> str:
    """A page's title and text (no tables) up to its first second-level heading."""
    out = []
    for line in markdown.splitlines():
        if line.startswith("## "):
            break
        if not line.lstrip().startswith("|"):
            out.append(line)
    return "\n".join(out).strip()


def write_pages(paper_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """``<name>.html`` beside each paper page present, and ``overview.html``: the answer, then the
    first section of what the study cost (the report's landing page includes it)."""
    paper_dir = Path(paper_dir)
    out_dir = Path(out_dir or paper_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, texts = [], {}
    for name in PAGES:
        src = paper_dir / f"{name}.md"
        if not src.exists():
            continue
        texts[name] = src.read_text()
        written.append(_write(out_dir / f"{name}.html", page(texts[name])))
    overview = "\n\n".join(s for s in (texts.get("answer", ""), first_section(texts.get("footprint", ""))) if s)
    written.append(
        _write(
            out_dir / "overview.html",
            f'{CSS}\n<div class="gb">\n{markdown_to_html(overview or "No answer: the paper tables are missing.")}\n</div>\n',
        )
    )
    return written


def _write(path: Path, text: str) -> Path:
    with io.atomic_file(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return path
