"""Every table of params/tables.yaml: a CSV with rows, a defined protocol, sources, and what the
specification of the papers' tables flags (versions, typos, percent columns)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from depthrepro.evaluate.protocols import ProtocolError
from depthrepro.report.tables import (
    TableSpec,
    TableSpecError,
    load_reported,
    load_table_protocol,
    load_table_specs,
    table_spec,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS = REPO_ROOT / "params"
SPECS = load_table_specs(PARAMS / "tables.yaml")
PARAMS_FILES = {path.stem for path in (PARAMS / "methods").glob("*.yaml")}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_table_has_rows_sources_and_a_defined_protocol(name: str) -> None:
    spec = SPECS[name]
    rows = load_reported(REPO_ROOT / spec.reported, name, spec.columns)
    assert rows and all(row.source.strip() for row in rows)
    assert all(row.printed for row in rows), "every row prints at least one of the table's columns"
    assert {row.method for row in rows if row.method} <= PARAMS_FILES, "a row's method names a params file"
    protocol = load_table_protocol(spec.protocol, PARAMS / "protocols.yaml")
    assert protocol["name"] == spec.protocol and protocol["source"]
    if protocol["kind"] == "depth":
        assert {c.key for c in spec.columns} <= set(protocol["metrics"])
        assert spec.region in protocol["regions"]
    else:
        assert {c.metric for c in spec.columns} <= set(protocol["metrics"])


def test_every_csv_row_belongs_to_a_table_and_every_csv_is_used() -> None:
    used = {spec.reported.name for spec in SPECS.values()}
    assert used == {path.name for path in (PARAMS / "paper").glob("*.csv")}
    for path in (PARAMS / "paper").glob("*.csv"):
        with open(path, newline="") as handle:
            tables = {row["table"] for row in csv.DictReader(handle)}
        assert tables <= set(SPECS), path


def test_the_expected_tables_exist_with_their_missing_notes() -> None:
    assert {"dualrefine_kitti", "dualrefine_main", "gasmono_nyu", "epcdepth_readme_models", "epcdepth_readme_disps",
            "epcdepth_kitti", "epcdepth_nyu", "dymultidepth_kitti", "featdepth_kitti", "featdepth_vo"} <= set(SPECS)
    for main in ("dualrefine_main", "gasmono_nyu", "epcdepth_kitti", "dymultidepth_kitti", "featdepth_kitti"):
        assert SPECS[main].missing, main


def _rows(name: str) -> dict[str, list]:
    spec = SPECS[name]
    grouped: dict[str, list] = {}
    for row in load_reported(REPO_ROOT / spec.reported, name, spec.columns):
        grouped.setdefault(row.label, []).append(row)
    return grouped


def test_numbers_as_printed_with_flagged_disagreements() -> None:
    gasmono = _rows("gasmono_nyu")
    assert len([r for rows in gasmono.values() for r in rows]) == 17
    dorn = gasmono["DORN"][0]
    assert dorn.printed["a2"] == "86.5" and "typo" in dorn.note
    assert gasmono["GasMono (Ours)"][0].printed == {"abs_rel": "0.113", "rmse": "0.459", "a1": "87.1",
                                                   "a2": "97.3", "a3": "99.2"}
    assert [c.key for c in SPECS["gasmono_nyu"].columns if c.percent] == ["a1", "a2", "a3"]
    monodepth2 = _rows("dualrefine_kitti")["Monodepth2"][0]
    assert (monodepth2.printed["a2"], monodepth2.printed["a3"]) == ("0.958", "0.980") and "0.959" in monodepth2.note
    epc = _rows("epcdepth_readme_models")["model18_lr"]
    assert [r.printed["abs_rel"] for r in epc] == ["0.0998", "0.1"]
    assert [r.descriptors["output_scale"] for r in epc] == ["d0", "d2"]
    assert len([r for rows in _rows("featdepth_kitti").values() for r in rows]) == 33
    assert "rmse" not in _rows("featdepth_kitti")["SuperDepth"][0].printed  # printed as '-'


def test_dualrefine_main_labels_both_versions() -> None:
    labels = list(_rows("dualrefine_main"))
    arxiv = [label for label in labels if "arXiv" in label]
    cvpr = [label for label in labels if "CVPR" in label]
    assert len(arxiv) == len(cvpr) == 1
    rows = _rows("dualrefine_main")
    assert (rows[arxiv[0]][0].printed["sq_rel"], rows[cvpr[0]][0].printed["sq_rel"]) == ("0.698", "0.658")


def test_single_source_rows_carry_their_caveat() -> None:
    dynamic = _rows("dymultidepth_kitti")
    (row,) = [r for rows in dynamic.values() for r in rows]
    assert "single source" in row.source and "not confirmed" in row.note
    vo = [r for rows in _rows("featdepth_vo").values() for r in rows]
    assert len(vo) == 2 and all("assumed" in r.note for r in vo)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"paper": "P", "title": "T", "reported": "x.csv", "protocol": "kitti_eigen"},
         r"missing key\(s\) \['columns'\]"),
        ({"paper": "P", "title": "T", "reported": "x.csv", "protocol": "p", "columns": ["abs_rel"], "colour": 1},
         r"unknown key\(s\) \['colour'\]"),
        ({"paper": "P", "title": "T", "reported": "x.csv", "protocol": "p", "columns": ["silog"]},
         r"metric 'silog' has no known direction"),
        ({"paper": "P", "title": "T", "reported": "x.csv", "protocol": "p", "columns": ["a1"],
          "units": {"percent": ["a2"]}}, r"units.percent names \['a2'\]"),
        ({"paper": "P", "title": "T", "reported": "x.csv", "protocol": "p", "columns": ["a1"],
          "missing": [{"table": "T-x"}]}, r"needs exactly table, content, needed"),
    ],
)
def test_invalid_table_entries_name_the_file_and_key(entry: dict, message: str) -> None:
    with pytest.raises(TableSpecError, match=rf"tables\.yaml: t1: .*{message}"):
        table_spec("t1", entry, Path("params/tables.yaml"))


def test_a_stub_protocol_cannot_back_a_table() -> None:
    with pytest.raises(ProtocolError, match="sevenscenes_gasmono cannot score"):
        load_table_protocol("sevenscenes_gasmono", PARAMS / "protocols.yaml")


def test_spec_heading_and_defaults() -> None:
    spec = SPECS["dualrefine_kitti"]
    assert isinstance(spec, TableSpec) and spec.heading.startswith("DualRefine") and " — " in spec.heading
    assert spec.descriptors == ("resolution",) and spec.region == "full"
