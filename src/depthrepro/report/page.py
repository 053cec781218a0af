"""The single self-contained HTML report: every table, the figures, the protocols and the provenance.

Tables are the pages `depthrepro table` rendered (``depthrepro.report.html``), embedded as they are
with their headings moved two levels down; figures are PNG data URIs; the provenance of every
reproduced number is copied from its metrics record and the training record inside it. The page
has no script and nothing it loads from elsewhere.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from depthrepro.report.document import NOT_COMPARABLE
from depthrepro.report.dynamic_regions import dynamic_region_section
from depthrepro.report.html import STYLE, inline
from depthrepro.report.pose_ablation import PoseAblation, pose_ablation_section
from depthrepro.report.protocol_text import footer_protocol_lines, protocol_line
from depthrepro.report.result_figures import ReportFigure, Scored
from depthrepro.report.unscored_runs import UnscoredRun, unscored_runs_section

PAGE_STYLE = STYLE + """
nav ul { columns: 2; }
section.table { border-top: 3px solid #666; margin-top: 2em; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #333; max-width: 60em; }
table.provenance { font-size: 0.8em; }
pre { background: #f7f7f7; padding: 0.5em; overflow-x: auto; font-size: 0.8em; }
.note { color: #664d03; }
"""

_HEADING = re.compile(r"<(/?)h([1-4])\b")


@dataclass(frozen=True)
class ProtocolEntry:
    """A protocol shown in the report: its definition and whether a reproduced number was scored with it."""

    definition: dict[str, Any]
    scored: bool


def table_body(path: Path) -> str:
    """The ``<body>`` content of a table page written by `depthrepro table`, headings two levels down."""
    text = Path(path).read_text(encoding="utf-8")
    if text.count("<body>") != 1 or text.count("</body>") != 1:
        raise ValueError(f"{path}: expected one <body>…</body> of a page written by `depthrepro table`")
    body = text.split("<body>", 1)[1].split("</body>", 1)[0]
    return _HEADING.sub(lambda m: f"<{m.group(1)}h{int(m.group(2)) + 2}", body).strip()


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,…`` of PNG bytes."""
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("expected PNG bytes")
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], css: str) -> list[str]:
    """A plain table of already escaped cells."""
    head = "".join(f"<th>{name}</th>" for name in header)
    body = ["<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows]
    return [f'<table class="{css}">', f"<thead><tr>{head}</tr></thead>", "<tbody>", *body, "</tbody>", "</table>"]


def _figure(figure: ReportFigure) -> list[str]:
    out = [f'<section id="figure-{escape(figure.name)}">', f"<h3>{escape(figure.title)}</h3>"]
    if figure.png is not None:
        out += ["<figure>", f'<img src="{data_uri(figure.png)}" alt="{escape(figure.title)}">',
                f"<figcaption>{inline(figure.caption)}</figcaption>", "</figure>"]
    out += [f'<p class="note">{inline(note)}</p>' for note in figure.notes]
    return [*out, "</section>"]


def _protocol(entry: ProtocolEntry) -> list[str]:
    definition = entry.definition
    used = "" if entry.scored else " No reproduced number in this report was scored with it."
    rows = [(escape(key), f"<code>{escape(json.dumps(value, ensure_ascii=False))}</code>")
            for key, value in definition.items()]
    return [f'<section id="protocol-{escape(definition["name"])}">', f"<h3>{escape(definition['name'])}</h3>",
            f"<p>{inline(protocol_line(definition))}{escape(used)}</p>", "<ul>",
            *(f"<li>{inline(line)}</li>" for line in footer_protocol_lines(definition)), "</ul>",
            "<details><summary>Full definition</summary>", *_table(("Key", "Value"), rows, "definition"),
            "</details>", "</section>"]


def _code(text: Any, length: int | None = None) -> str:
    text = "?" if text in (None, "") else str(text)
    return f"<code>{escape(text[:length] if length else text)}</code>"


def _provenance_row(path: Path, record: dict[str, Any]) -> list[str]:
    prov = record["provenance"]
    train = prov.get("train", {})
    return [escape(prov["method"]), escape(prov["weights"]), escape(str(train.get("seed", "?"))),
            escape(record["protocol"]["name"]), escape(str(record["num_images"])),
            f"{_code(prov.get('git.commit'), 12)} (dirty: {escape(str(prov.get('git.dirty', '?')))})",
            _code(prov.get("data.md5")), _code(prov.get("checkpoint.sha256"), 16),
            f"train {_code(train.get('code.digest'))}, score {_code(prov.get('code.digest'))}",
            f"train {_code(train.get('mlflow_run_id'))}, score {_code(prov.get('mlflow_run_id'))}",
            _code(path)]


def _provenance_order(item: Scored) -> tuple[str, str, str, str]:
    prov = item[1]["provenance"]
    return prov["method"], item[1]["protocol"]["name"], prov["weights"], str(prov.get("train", {}).get("seed"))


def _provenance(scored: Sequence[Scored]) -> list[str]:
    if not scored:
        return ["<p>No reproduced number: no metrics file was given.</p>"]
    header = ("Method", "Weights", "Seed", "Protocol", "Images", "Git commit", "data.dvc md5", "Checkpoint sha256",
              "Code digest", "MLflow runs", "Metrics file")
    order = sorted(scored, key=_provenance_order)
    out = ["<p>One row per reproduced number (a method, checkpoint stage, seed and protocol), as its metrics "
           "record states it.</p>", *_table(header, [_provenance_row(p, r) for p, r in order], "provenance"),
           "<h3>Training runs</h3>", "<p>Each training record as written next to its checkpoint (`train.json`): "
           "parameters, data and code hashes, MLflow run.</p>"]
    seen = set()
    for _, record in order:
        train = record["provenance"].get("train", {})
        key = json.dumps(train, sort_keys=True)
        if not train or key in seen:
            continue
        seen.add(key)
        title = f"{train.get('method', record['provenance']['method'])} seed {train.get('seed', '?')}"
        out += [f"<details><summary>{escape(title)}: MLflow run {_code(train.get('mlflow_run_id'))}</summary>",
                f"<pre>{escape(json.dumps(train, indent=1, sort_keys=True, ensure_ascii=False))}</pre>", "</details>"]
    return out


def report_page(title: str, synthetic: bool, tables: Sequence[tuple[str, Path]], figures: Sequence[ReportFigure],
                protocols: Sequence[ProtocolEntry], scored: Sequence[Scored],
                pose_ablations: Sequence[PoseAblation] = (), dynamic_regions: Sequence[Scored] = (),
                unscored_runs: Sequence[UnscoredRun] = ()) -> str:
    """The whole report page; ``tables`` are ``(name, path of its .html page)`` in display order;
    ``pose_ablations`` the records of `depthrepro pose-ablation`; ``dynamic_regions`` the metrics records of
    the moving-object comparison; ``unscored_runs`` the training runs no table scores."""
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">', f"<title>{escape(title)}</title>",
           f"<style>{PAGE_STYLE}</style>", "</head>", "<body>", f"<h1>{escape(title)}</h1>"]
    if synthetic:
        out.append(f'<p class="warning">{inline(NOT_COMPARABLE)}</p>')
    contents = [("tables", "Tables"), *((f"table-{n}", f"Table {n}") for n, _ in tables), ("figures", "Figures"),
                ("dynamic-regions", "Moving objects"), ("pose-ablation", "Pose ablation"), ("unscored-runs", "Runs without a table"),
                ("protocols", "Protocols"),
                ("provenance", "Provenance")]
    out += ["<nav><ul>", *(f'<li><a href="#{escape(a)}">{escape(t)}</a></li>' for a, t in contents), "</ul></nav>"]
    out.append('<h2 id="tables">Tables</h2>')
    for name, path in tables:
        out += [f'<section class="table" id="table-{escape(name)}">', table_body(path), "</section>"]
    out.append('<h2 id="figures">Figures</h2>')
    for figure in figures:
        out += _figure(figure)
    out.append('<h2 id="dynamic-regions">Moving objects: full image and dynamic region</h2>')
    out += dynamic_region_section(dynamic_regions)
    out.append('<h2 id="pose-ablation">Pose ablation: refined vs raw COLMAP poses</h2>')
    out += pose_ablation_section(pose_ablations)
    out.append('<h2 id="unscored-runs">Runs without a table</h2>')
    out += unscored_runs_section(unscored_runs)
    out.append('<h2 id="protocols">Protocols</h2>')
    for entry in protocols:
        out += _protocol(entry)
    out.append('<h2 id="provenance">Provenance</h2>')
    out += _provenance(scored)
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
