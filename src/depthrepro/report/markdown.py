"""Markdown rendering of a paper table (the page written to ``results/tables/<table>.md``)."""

from __future__ import annotations

from collections.abc import Sequence

from depthrepro.report.document import NOT_COMPARABLE, Cell, TableDocument, TableLine, build_table
from depthrepro.report.tables import Column, ReportedRow, Reproduction

SANITY_INTRO = "The same network and seed before training (`init.pt`) and after (`final.pt`), same protocol."


def _cell(cell: Cell) -> str:
    text = cell.text.replace("|", "\\|")
    if cell.mark == "best":
        return f"**{text}**"
    if cell.mark == "second":
        return f"<u>{text}</u>"
    return text


def _row(texts: Sequence[str]) -> str:
    """``| a | b |`` with an empty cell written ``| |``."""
    return "|" + "|".join(f" {text} " if text else " " for text in texts) + "|"


def _table(header: Sequence[str], lines: Sequence[TableLine]) -> list[str]:
    out = [_row(header), "|" + "---|" * len(header)]
    for line in lines:
        if line.kind == "block":
            out.append(_row([f"*{_cell(line.cells[0])}*", *([""] * (len(header) - 1))]))
        else:
            out.append(_row([_cell(cell) for cell in line.cells]))
    return out


def markdown_page(document: TableDocument) -> str:
    """The table page: main table, notes, a sanity section (untrained vs trained) and the provenance footer."""
    lines = [f"# {document.title}", "", document.protocol_line, ""]
    lines += _table(document.header, document.lines)
    if document.notes:
        lines += ["", *(f"- {note}" for note in document.notes)]
    lines += ["", "## Sanity check: trained vs untrained network", "", SANITY_INTRO, ""]
    lines.append(_row(document.sanity_header))
    lines.append("|" + "---|" * len(document.sanity_header))
    lines += [_row(row) for row in document.sanity_rows]
    lines += [f"\n{verdict}" for verdict in document.sanity_verdicts]
    if not document.sanity_rows:
        lines.append("\nNo reproduced run in this table yet.")
    lines += ["", "## Provenance", ""]
    if document.synthetic:
        lines += [NOT_COMPARABLE, ""]
    lines += [f"- {item}" for item in document.footer]
    lines += [f"  - {source}" for source in document.sources]
    return "\n".join(lines) + "\n"


def render_markdown(title: str, columns: Sequence[str | dict | Column], reported: list[ReportedRow],
                    scores: dict[tuple[str, str], Reproduction], context: dict) -> str:
    """Markdown page of one table; ``context`` as in ``depthrepro.report.document.build_table``."""
    return markdown_page(build_table(title, columns, reported, scores, context))
