"""Markdown, LaTeX and HTML renderings: structure, escaping, percent units, best/second marks,
which row a reproduction is compared with, and the `depthrepro table --formats` verb."""

from __future__ import annotations

import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import pytest

from depthrepro.cli import main
from depthrepro.report.document import build_table
from depthrepro.report.html import render_html
from depthrepro.report.latex import escape, render_latex
from depthrepro.report.markdown import render_markdown
from depthrepro.report.tables import (
    Column,
    ReportedRow,
    block_marks,
    group_scores,
    load_reported,
    load_table_protocol,
    load_table_specs,
    make_columns,
    place_reproductions,
    unscored_reason,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS = REPO_ROOT / "params"
SPECS = load_table_specs(PARAMS / "tables.yaml")
RENDERERS = {"md": render_markdown, "tex": render_latex, "html": render_html}


def _record(method: str, stage: str, seed: int, mean: dict[str, float], height: int = 96, width: int = 320,
            stereo: bool = False, protocol: str = "kitti_eigen") -> dict:
    return {"mean": mean, "num_images": 3, "stereo_trained": stereo, "protocol": {"name": protocol},
            "scaling": {"kind": "median", "factor": 1.0},
            "provenance": {"method": method, "weights": stage, "checkpoint.sha256": "ab" * 32,
                           "git.commit": "c" * 40, "git.dirty": "false", "code.digest": "d" * 16,
                           "mlflow_run_id": "e" * 32,
                           "train": {"seed": seed, "model_cfg": {"height": height, "width": width},
                                     "mlflow_run_id": "f" * 32, "code.digest": "1" * 16, "weights_init": "scratch"}}}


@cache
def _protocol(name: str) -> dict:
    return load_table_protocol(name, PARAMS / "protocols.yaml")


def _context(name: str, **extra: object) -> dict:
    spec = SPECS[name]
    protocol = _protocol(spec.protocol)
    return {"protocol": protocol, "dataset": "synthetic_kitti", "profile": "smoke", "data_md5": "0" * 32 + ".dir",
            "synthetic": True, "configured_methods": ["monodepth2"], "implemented_methods": ["monodepth2"],
            "official": {"monodepth2_mono_640x192": "checkpoint not downloaded: `depthrepro download --name monodepth2_mono_640x192 --unpack`"},
            "descriptors": spec.descriptors,
            "region": spec.region, "notes": spec.notes, "missing": spec.missing,
            "unscored_reason": unscored_reason(protocol), **extra}


def _render(fmt: str, name: str, records: list[dict] | None = None) -> str:
    spec = SPECS[name]
    reported = load_reported(REPO_ROOT / spec.reported, name, spec.columns)
    return RENDERERS[fmt](spec.heading, spec.columns, reported, group_scores(records or []), _context(name))


class _StrictHTML(HTMLParser):
    """Fails on mis-nested tags; collects each table's rows as lists of (tag, colspan) cells."""

    VOID = {"meta", "br", "hr", "img", "link", "input"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tables: list[list[list[int]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.tables[-1][-1].append(int(dict(attrs).get("colspan") or 1))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()


def _latex_structure_ok(text: str) -> None:
    body = "\n".join(line for line in text.splitlines() if not line.startswith("%"))
    unescaped = re.sub(r"\\[{}%&_#$]", "", body)
    depth = 0
    for char in unescaped:
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0, "a closing brace without an opening one"
    assert depth == 0, "unbalanced braces"
    for special in "%_#":
        assert special not in unescaped, f"unescaped {special!r}"
    assert text.isascii(), sorted({c for c in text if not c.isascii()})
    assert re.findall(r"\\begin\{(\w+)\}", body) == re.findall(r"\\end\{(\w+)\}", body)[::-1] or \
        sorted(re.findall(r"\\begin\{(\w+)\}", body)) == sorted(re.findall(r"\\end\{(\w+)\}", body))
    for tabular in re.findall(r"\\begin\{tabular\}\{(\w+)\}(.*?)\\end\{tabular\}", body, flags=re.S):
        spec, content = tabular
        assert content.count(r"\toprule") == content.count(r"\bottomrule") == 1 and r"\midrule" in content
        for line in content.splitlines():
            if line.endswith(r"\\") and "multicolumn" not in line:
                assert re.sub(r"\\&", "", line).count("&") == len(spec) - 1, line


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_table_renders_in_every_format_without_reproductions(name: str) -> None:
    spec = SPECS[name]
    reported = load_reported(REPO_ROOT / spec.reported, name, spec.columns)
    markdown = _render("md", name)
    for row in reported:
        assert f"| {row.label} |" in markdown
    assert "No reproduced run in this table yet." in markdown
    _latex_structure_ok(_render("tex", name))
    parser = _StrictHTML()
    parser.feed(_render("html", name))
    parser.close()
    assert not parser.stack
    main_table = parser.tables[0]
    assert {sum(cells) for cells in main_table} == {len(main_table[0])}


def test_latex_escapes_specials_and_symbols() -> None:
    assert escape("a_b 5% & #1 {x} ~^\\") == (r"a\_b 5\% \& \#1 \{x\} \textasciitilde{}\textasciicircum{}"
                                              r"\textbackslash{}")
    assert escape("P²Net ± Δ — δ1 ↓") == r"P$^{2}$Net $\pm$ $\Delta$ --- $\delta$1 $\downarrow$"


def test_gasmono_percent_columns_convert_reproduced_fractions() -> None:
    record = _record("gasmono", "final", 0, {"abs_rel": 0.12, "rmse": 0.5, "a1": 0.871, "a2": 0.97, "a3": 0.9925},
                     protocol="nyuv2")
    spec = SPECS["gasmono_nyu"]
    reported = load_reported(REPO_ROOT / spec.reported, "gasmono_nyu", spec.columns)
    context = _context("gasmono_nyu", implemented_methods=["gasmono"], configured_methods=["gasmono"])
    text = render_markdown(spec.heading, spec.columns, reported, group_scores([record]), context)
    assert ("| GasMono (Ours) | | Reproduced (smoke, synthetic_kitti, 96x320) "
            "| 0.120 | 0.500 | 87.1 | 97.0 | 99.2 | 1 |") in text
    assert "| GasMono (Ours) | | Δ Reproduced − Reported | +0.007 | +0.041 | +0.0 | -0.3 | +0.0 | |" in text
    assert "a1 (%) ↑" in text and "reproduced fractions are multiplied by 100" in text


def _row(label: str, block: str, **values: float) -> ReportedRow:
    return ReportedRow(label, "", "", dict(values), "src", {k: f"{v}" for k, v in values.items()}, block)


def test_best_and_second_are_recomputed_per_block_with_ties() -> None:
    rows = [_row("a", "M", abs_rel=0.12, a1=0.85), _row("b", "M", abs_rel=0.10, a1=0.88),
            _row("c", "M", abs_rel=0.10, a1=0.86), _row("d", "M", abs_rel=0.11),
            _row("e", "S", abs_rel=0.20, a1=0.70), _row("f", "S", abs_rel=0.30, a1=0.60),
            _row("g", "MS*", abs_rel=0.01)]
    marks = block_marks(rows, make_columns(["abs_rel", "a1"]))
    assert marks[(1, "abs_rel")] == marks[(2, "abs_rel")] == "best" and marks[(3, "abs_rel")] == "second"
    assert (0, "abs_rel") not in marks
    assert marks[(1, "a1")] == "best" and marks[(2, "a1")] == "second" and (0, "a1") not in marks
    assert marks[(4, "abs_rel")] == "best" and (5, "abs_rel") not in marks  # two rows: no second
    assert not any(key[0] == 6 for key in marks)  # a block of one row is not ranked


def test_marks_in_each_format() -> None:
    markdown, latex, html = (_render(fmt, "featdepth_kitti") for fmt in ("md", "tex", "html"))
    ours = next(line for line in markdown.splitlines() if line.startswith("| Ours (FeatDepth) | M | Reported"))
    assert "**0.104**" in ours and "**0.984**" in ours
    assert "| Ours (FeatDepth) | M* | Reported | **0.088** |" in markdown
    assert "| DepthHint | MS† | Reported | <u>0.100</u> | <u>0.728</u> | <u>4.469</u> |" in markdown
    assert r"\textbf{0.104}" in latex and r"\underline{4.469}" in latex
    assert "<strong>0.104</strong>" in html and "<u>4.469</u>" in html


def test_a_reproduction_is_compared_with_the_matching_row_only() -> None:
    rows = [ReportedRow("MR", "dualrefine", "192x640", {"abs_rel": 0.09}, "s"),
            ReportedRow("HR", "dualrefine", "288x960", {"abs_rel": 0.087}, "s"),
            ReportedRow("Mono S", "monodepth2", "", {"abs_rel": 0.107}, "s", descriptors={"train": "S"}),
            ReportedRow("Mono M", "monodepth2", "", {"abs_rel": 0.115}, "s", descriptors={"train": "M"})]
    scores = group_scores([_record("dualrefine", "final", 0, {"abs_rel": 0.1}, 288, 960),
                           _record("monodepth2", "final", 0, {"abs_rel": 0.1}, stereo=False)])
    assert place_reproductions(rows, scores) == {0: 1, 1: 1, 2: 3, 3: 3}
    context = {**_context("dualrefine_kitti"), "implemented_methods": ["dualrefine", "monodepth2"],
               "descriptors": ("resolution",)}
    text = render_markdown("T", ["abs_rel"], rows, scores, context)
    assert "| HR | 288x960 | Reproduced (smoke, synthetic_kitti) | 0.100 | 1 |" in text
    assert "not reproduced here: this run's dualrefine (288x960) is compared with row 'HR'" in text


def test_dynamic_region_values_and_unscored_protocols() -> None:
    record = _record("dymultidepth", "final", 0, {"abs_rel": 0.05}, 256, 512, protocol="kitti_odom_mr")
    record["regions"] = {"dynamic": {"mean": {"abs_rel": 0.2}}}
    rows = [ReportedRow("Ours", "dymultidepth", "256x512", {"abs_rel": 0.043}, "s")]
    context = {**_context("dymultidepth_kitti"), "implemented_methods": ["dymultidepth"],
               "descriptors": ("resolution",)}
    full = build_table("T", ["abs_rel"], rows, group_scores([record]), context)
    dynamic = build_table("T", ["abs_rel"], rows, group_scores([record]), {**context, "region": "dynamic"})
    assert full.lines[2].cells[3].text == "0.050" and dynamic.lines[2].cells[3].text == "0.200"
    assert "region dynamic" in dynamic.lines[2].cells[2].text
    assert "does not compute" not in _render("md", "featdepth_vo")  # segment errors are computed now


def test_metrics_a_scorer_could_not_compute_show_as_missing_with_the_reason() -> None:
    """Pose records hold None for segment errors of sequences shorter than the shortest segment."""
    reason = "sequence 00 is 34.0 m long, shorter than the shortest segment (100 m)"
    records = []
    for stage, ate in (("init", None), ("final", None)):
        record = _record("featdepth_odom", stage, 0, {"seq09_t_err": ate, "seq09_r_err": None,
                                                      "seq10_t_err": None, "seq10_r_err": None},
                         protocol="kitti_odom_segments_featdepth")
        record["missing"] = {"seq09_t_err": reason, "seq09_r_err": reason}
        record["scaling"] = {"kind": "trajectory alignment scale", "factor": {"09": 2.5}}
        records.append(record)
    text = _render("md", "featdepth_vo", records)
    row = next(line for line in text.splitlines() if "Reproduced (" in line)
    assert row.count(" — ") == 4 and f"1 (missing: {reason})" in row
    delta = next(line for line in text.splitlines() if "Δ Reproduced − Reported" in line)
    assert delta.count(" — ") == 4
    assert "is missing, so untrained and trained cannot be compared" in text
    assert "trajectory alignment scale (09: ×2.5)" in text


def test_render_markdown_keeps_column_objects_and_plain_names_equivalent() -> None:
    spec = SPECS["dualrefine_kitti"]
    reported = load_reported(REPO_ROOT / spec.reported, "dualrefine_kitti", spec.columns)
    names = [c.key for c in spec.columns]
    assert all(isinstance(c, Column) for c in spec.columns)
    assert (render_markdown("T", names, reported, {}, _context("dualrefine_kitti"))
            == render_markdown("T", spec.columns, reported, {}, _context("dualrefine_kitti")))


def test_table_verb_writes_every_requested_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(REPO_ROOT)
    out = tmp_path / "tables" / "gasmono_nyu.md"
    assert main(["table", "--table", "gasmono_nyu", "--dataset", "synthetic_kitti", "--profile", "smoke",
                 "--out", str(out), "--formats", "md,tex,html"]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["gasmono_nyu.html", "gasmono_nyu.md", "gasmono_nyu.tex"]
    assert "| GasMono (Ours) | Self-Sup. + Pose | Reported | **0.113** |" in out.read_text()
    assert "# GasMono" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["table", "--table", "gasmono_nyu", "--dataset", "synthetic_kitti", "--profile", "smoke",
              "--out", str(out), "--formats", "md,pdf"])


def _official(release: str, mean: dict[str, float]) -> dict:
    record = _record("monodepth2", "official", 0, mean, height=192, width=640)
    record["provenance"]["release"] = release
    record["provenance"]["train"] = {"release": release, "params_name": "monodepth2", "profile": "paper",
                                     "model_cfg": {"height": 192, "width": 640}, "code.digest": "2" * 16,
                                     "url": "https://example.org/mono_640x192.zip",
                                     "files": {"resources/x/encoder.pth": "9" * 64}}
    return record


def test_official_weights_line_shows_the_release_scores_and_its_delta() -> None:
    mean = {"abs_rel": 0.125, "sq_rel": 0.9, "rmse": 4.9, "rmse_log": 0.2, "a1": 0.87, "a2": 0.95, "a3": 0.98}
    text = _render("md", "dualrefine_kitti", [_official("monodepth2_mono_640x192", mean)])
    lines = text.splitlines()
    official = next(line for line in lines if "Official weights (`monodepth2_mono_640x192`" in line)
    assert "| 0.125 |" in official and "192x640" in official
    delta = lines[lines.index(official) + 1]
    assert "Δ Official − Reported" in delta and "| +0.010 |" in delta   # 0.125 - 0.115 (Monodepth2 row)
    # rows whose release was not downloaded say how to get it; rows without a release say so
    assert "checkpoint not downloaded: `depthrepro download --name manydepth_KITTI_MR" not in text  # no reason given
    assert "downloaded, but not scored in this run" in text                   # manydepth row, no context entry
    assert "release files `encoder.pth` `999999999999`" in text
    assert "official release" in text                                         # the sanity section's label


def test_rows_without_a_release_say_so() -> None:
    text = _render("md", "epcdepth_readme_disps")
    assert "no released checkpoint is known for this row" in text
