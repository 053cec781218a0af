"""HTML rendering of a paper table: one self-contained page (inline style, no scripts, no links out)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from depthrepro.report.document import NOT_COMPARABLE, Cell, TableDocument, build_table, inline_parts
from depthrepro.report.markdown import SANITY_INTRO
from depthrepro.report.tables import Column, ReportedRow, Reproduction

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 90em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { padding: 0.2em 0.6em; border-bottom: 1px solid #ddd; text-align: left; }
td.metric { text-align: right; font-variant-numeric: tabular-nums; }
tr.block th { background: #f3f3f3; font-style: italic; }
tr.reported td { border-top: 2px solid #999; }
tr.official, tr.reproduced, tr.delta { color: #333; }
.warning { background: #fff3cd; padding: 0.5em; }
"""


def inline(text: str) -> str:
    """Escaped text with ``code`` as ``<code>`` and ``**bold**`` as ``<strong>``."""
    wrappers = {"text": "{}", "code": "<code>{}</code>", "bold": "<strong>{}</strong>"}
    return "".join(wrappers[kind].format(escape(content)) for kind, content in inline_parts(text))


def _cell(cell: Cell, metric: bool) -> str:
    text = escape(cell.text)
    if cell.mark == "best":
        text = f"<strong>{text}</strong>"
    elif cell.mark == "second":
        text = f"<u>{text}</u>"
    return f'<td class="metric">{text}</td>' if metric else f"<td>{text}</td>"


def _table(header: Sequence[str], rows: list[str]) -> list[str]:
    head = "".join(f"<th>{escape(name)}</th>" for name in header)
    return ["<table>", f"<thead><tr>{head}</tr></thead>", "<tbody>", *rows, "</tbody>", "</table>"]


def html_page(document: TableDocument, metric_columns: int) -> str:
    """The ``.html`` page of one table; the last ``metric_columns`` + 1 cells of a row hold metrics and n."""
    width = len(document.header)
    first_metric = width - metric_columns - 1
    rows = []
    for line in document.lines:
        if line.kind == "block":
            rows.append(f'<tr class="block"><th colspan="{width}">{escape(line.cells[0].text)}</th></tr>')
        else:
            cells = "".join(_cell(cell, first_metric <= k < width - 1) for k, cell in enumerate(line.cells))
            rows.append(f'<tr class="{line.kind}">{cells}</tr>')
    sanity = [f"<tr>{''.join(_cell(Cell(text), 1 < k) for k, text in enumerate(row))}</tr>"
              for row in document.sanity_rows]
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{escape(document.title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
           f"<h1>{escape(document.title)}</h1>", f"<p>{inline(document.protocol_line)}</p>",
           *_table(document.header, rows)]
    if document.notes:
        out += ['<ul class="notes">', *(f"<li>{inline(note)}</li>" for note in document.notes), "</ul>"]
    out += ["<h2>Sanity check: trained vs untrained network</h2>", f"<p>{inline(SANITY_INTRO)}</p>"]
    out += _table(document.sanity_header, sanity) if sanity else ["<p>No reproduced run in this table yet.</p>"]
    out += [f"<p>{inline(verdict)}</p>" for verdict in document.sanity_verdicts]
    out.append("<h2>Provenance</h2>")
    if document.synthetic:
        out.append(f'<p class="warning">{inline(NOT_COMPARABLE)}</p>')
    items = [f"<li>{inline(item)}</li>" for item in document.footer[:-1]]
    sources = "".join(f"<li>{inline(source)}</li>" for source in document.sources)
    items.append(f"<li>{inline(document.footer[-1])}<ul>{sources}</ul></li>")
    out += ["<ul>", *items, "</ul>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


def render_html(title: str, columns: Sequence[str | dict | Column], reported: list[ReportedRow],
                scores: dict[tuple[str, str], Reproduction], context: dict) -> str:
    """HTML page of one table; ``context`` as in ``depthrepro.report.document.build_table``."""
    return html_page(build_table(title, columns, reported, scores, context), len(columns))
