"""`depthrepro report` on the files a tiny run writes: one self-contained page holding every table, the
figures as data URIs, the protocols and each number's provenance; headless Chromium renders it."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from depthrepro.cli import main
from depthrepro.evaluate.protocols import load_protocol
from depthrepro.evaluate.score import score_depth
from depthrepro.io.kitti import image_path
from depthrepro.provenance.tracking import tracked_run
from depthrepro.report.tables import load_table_specs

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS = REPO_ROOT / "params"
SPECS = load_table_specs(PARAMS / "tables.yaml")
TABLES = ("dualrefine_kitti", "gasmono_nyu")
"""A KITTI table the fake reproductions fill and an NYU one without reproductions."""
METHODS = ("manydepth", "monodepth2")
ENTRIES = [f"2011_09_26/2011_09_26_drive_0002_sync {frame} l" for frame in (3, 7, 11, 15, 19)]
GT_SIZE = (24, 80)
PRED_SIZE = (12, 40)


def _split(entry: str) -> tuple[str, int, str]:
    folder, frame, side = entry.split()
    return folder, int(frame), side


def _write_images(root: Path, rng: np.random.Generator) -> None:
    for entry in ENTRIES:
        path = image_path(root, *_split(entry), "jpg")
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (*GT_SIZE, 3), dtype=np.uint8)).save(path)


def _gt_maps(rng: np.random.Generator) -> list[np.ndarray]:
    maps = []
    for _ in ENTRIES:
        depth = rng.uniform(3.0, 60.0, GT_SIZE).astype(np.float32)
        depth[rng.random(GT_SIZE) < 0.6] = 0.0  # sparse, as projected LiDAR
        maps.append(depth)
    return maps


def _train_record(results: Path, method: str, images: Path) -> dict:
    with tracked_run(results, f"train/{method}/synthetic_kitti/smoke/seed0", {"stage": "train"}, {}) as run:
        import mlflow

        for step in range(0, 40, 10):
            mlflow.log_metrics({"loss": 0.3 - 0.004 * step}, step=step)
    return {"stage": "train", "method": method, "seed": "0", "code.digest": "c0de" * 4, "git.commit": "a1" * 20,
            "git.dirty": "false", "data.md5": "d" * 32 + ".dir", "prepared.images": str(images),
            "weights_init": "scratch", "mlflow_run_id": run.info.run_id,
            "model_cfg": {"height": PRED_SIZE[0], "width": PRED_SIZE[1]}, "profile_params": {"batch_size": 2}}


def _fake_run(root: Path) -> dict:
    """Prepared images and GT, predictions, metrics and train records of two methods (seed 0, init and final)."""
    rng = np.random.default_rng(0)
    results = root / "results"
    prep = results / "prepared/synthetic_kitti"
    _write_images(prep / "jpeg", rng)
    gt = _gt_maps(rng)
    gt_path = prep / "gt/eigen.npz"
    gt_path.parent.mkdir(parents=True)
    np.savez(gt_path, entries=np.array(ENTRIES), **{f"depth_{i:05d}": d for i, d in enumerate(gt)})
    protocol = load_protocol("kitti_eigen", PARAMS / "protocols.yaml")
    metrics = []
    for method in METHODS:
        train = _train_record(results, method, prep / "jpeg")
        for stage in ("init", "final"):
            run = f"synthetic_kitti/smoke/{method}/seed0/{stage}"
            disp = rng.uniform(0.05, 5.0, (len(ENTRIES), *PRED_SIZE)).astype(np.float32)
            pred_path = results / f"predictions/{run}/eigen.npz"
            pred_path.parent.mkdir(parents=True)
            paths = [str(image_path(prep / "jpeg", *_split(entry), "jpg")) for entry in ENTRIES]
            np.savez(pred_path, disp=disp, disp_flipped=disp[:, :, ::-1], entries=np.array(ENTRIES),
                     image_paths=np.array(paths), method=np.array(method), checkpoint_stage=np.array(stage))
            score = score_depth(disp, gt, protocol, stereo_trained=False)
            record = {**score.to_json_dict(), "provenance": {
                "stage": "score", "method": method, "weights": stage, "protocol": "kitti_eigen",
                "code.digest": "5c0e" * 4, "git.commit": "a1" * 20, "git.dirty": "false", "data.md5": "d" * 32 + ".dir",
                "checkpoint.sha256": f"{method}{stage}".encode().hex().ljust(64, "0"),
                "mlflow_run_id": f"{method}-{stage}-score-run", "predictions": str(pred_path), "gt": str(gt_path),
                "checkpoint": str(results / f"checkpoints/{run}.pt"), "train": train}}
            path = results / f"metrics/{run}/kitti_eigen.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps(record))
            metrics.append(path)
    tables = []
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO_ROOT)  # the table verb reads data.dvc from the working directory
        for name in TABLES:
            out = results / f"tables/{name}.md"
            used = [str(p) for p in metrics] if SPECS[name].protocol == "kitti_eigen" else []
            assert main(["table", "--table", name, "--dataset", "synthetic_kitti", "--profile", "smoke",
                         "--out", str(out), "--formats", "html", *used]) == 0
            tables.append(out.with_suffix(".html"))
    page = results / "report.html"
    assert main(["report", "--dataset", "synthetic_kitti", "--profile", "smoke", "--out", str(page),
                 "--figures-dir", str(results / "figures"), "--results-dir", str(results),
                 "--params-dir", str(PARAMS), "--tables", *map(str, tables), "--metrics", *map(str, metrics)]) == 0
    return {"page": page, "metrics": metrics, "results": results, "tables": tables}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _fake_run(tmp_path_factory.mktemp("report"))


class _Links(HTMLParser):
    """Every tag name and every src/href value of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.links: list[tuple[str, str, str]] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "poster", "data"):
                self.links.append((tag, name, value or ""))
            if name == "id":
                self.ids.append(value or "")


def _parse(text: str) -> _Links:
    parser = _Links()
    parser.feed(text)
    return parser


def test_page_is_self_contained(run: dict) -> None:
    text = run["page"].read_text()
    parsed = _parse(text)
    assert not {"script", "link", "iframe", "object", "embed"} & set(parsed.tags)
    assert "url(" not in text and "@import" not in text
    images = [value for tag, name, value in parsed.links if tag == "img"]
    assert len(images) == 3  # depth and error grids of kitti_eigen, training loss
    for tag, name, value in parsed.links:
        assert not re.match(r"(?i)\s*(https?:|//|file:|ftp:)", value), (tag, name, value[:80])
        assert value.startswith("#") or value.startswith("data:image/png;base64,"), (tag, name, value[:80])
    for value in images:
        png = base64.b64decode(value.split(",", 1)[1], validate=True)
        Image.open(io.BytesIO(png)).verify()


def test_page_holds_every_table_figure_protocol_and_provenance(run: dict) -> None:
    text = run["page"].read_text()
    ids = _parse(text).ids
    for name in TABLES:
        assert f"table-{name}" in ids and SPECS[name].title in text
    assert {"figure-depth_kitti_eigen", "figure-errors_kitti_eigen", "figure-training_loss"} <= set(ids)
    assert not any(i.startswith("figure-trajectory") for i in ids)  # no pose protocol was scored
    assert "Test images 0, 2, 4 of split <code>eigen</code>" in text
    assert {"protocol-kitti_eigen", "protocol-nyuv2"} <= set(ids)
    assert "Not comparable to the paper." in text
    provenance = html.unescape(text.split('<h2 id="provenance">', 1)[1])
    rows = re.findall(r"<tr><td>(\w+)</td><td>(init|final)</td><td>0</td><td>kitti_eigen</td>", provenance)
    assert sorted(rows) == sorted((m, s) for m in METHODS for s in ("init", "final"))
    for path in run["metrics"]:
        record = json.loads(path.read_text())
        prov = record["provenance"]
        for value in (prov["mlflow_run_id"], prov["train"]["mlflow_run_id"], prov["data.md5"], str(path),
                      prov["checkpoint.sha256"][:16], prov["git.commit"][:12]):
            assert value in provenance, value
    assert '"batch_size": 2' in provenance  # the training record's parameters


def test_figures_are_written_and_embedded_unchanged(run: dict) -> None:
    figures = run["results"] / "figures"
    assert sorted(p.name for p in figures.iterdir()) == ["depth_kitti_eigen.png", "errors_kitti_eigen.png",
                                                         "training_loss.png"]
    text = run["page"].read_text()
    for path in figures.iterdir():
        assert base64.b64encode(path.read_bytes()).decode() in text
    width, height = Image.open(figures / "depth_kitti_eigen.png").size
    assert width == 5 * 320  # input image, then two methods × (init, final)
    assert Image.open(figures / "errors_kitti_eigen.png").size[0] == 4 * 320


def test_unknown_table_and_missing_metrics_are_named(run: dict, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    bogus = tmp_path / "not_a_table.html"
    bogus.write_text("<html><body></body></html>")
    common = ["report", "--dataset", "synthetic_kitti", "--profile", "smoke", "--out", str(page),
              "--figures-dir", str(tmp_path / "figures"), "--params-dir", str(PARAMS)]
    with pytest.raises(SystemExit, match="'not_a_table' is not a table"):
        main([*common, "--tables", str(bogus)])
    with pytest.raises(SystemExit, match=r"missing\.json: metrics file not found"):
        main([*common, "--tables", str(run["tables"][0]), "--metrics", str(tmp_path / "missing.json")])
    assert not page.exists()


PROBE = """<script>window.addEventListener("load", () => {
  const images = [...document.images];
  document.body.setAttribute("data-images", images.length);
  document.body.setAttribute("data-broken", images.filter(i => !(i.complete && i.naturalWidth > 0)).length);
  document.body.setAttribute("data-tables", [...document.querySelectorAll("section.table")].map(s => s.id).join(","));
});</script>"""
"""Added to a copy of the page only (the page itself has no script): records what the browser loaded."""


def test_chromium_renders_every_table_and_no_broken_image(run: dict, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("HEADLESS CHROMIUM NOT FOUND: install the Debian package `chromium` "
                    "(apt-get install -y chromium) to render the report page")
    probe = tmp_path / "probe.html"
    probe.write_text(run["page"].read_text().replace("</body>", PROBE + "\n</body>"))
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
               "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    body = re.search(r"<body([^>]*)>", result.stdout)
    assert body, result.stderr[-2000:]
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))
    assert attrs["data-images"] == "3" and attrs["data-broken"] == "0", attrs
    assert attrs["data-tables"].split(",") == [f"table-{name}" for name in TABLES]
    dom = result.stdout
    assert dom.count('<table class="provenance">') == 1
    for name in TABLES:
        assert SPECS[name].title in dom


def test_runs_no_table_scores_are_listed_with_their_reason(run: dict, tmp_path: Path) -> None:
    """`--unscored-runs`: each run's row names its params file and the `unscored` reason; a run whose params
    file gives no reason is refused."""
    results, page = run["results"], tmp_path / "report.html"
    record = {**_train_record(results, "featdepth_euroc", tmp_path / "euroc"), "train_samples": 8, "epochs": 1,
              "steps": 4, "final_loss": 0.25, "samples_per_s": 1.5}
    train_json = tmp_path / "featdepth_euroc" / "train.json"
    train_json.parent.mkdir()
    train_json.write_text(json.dumps(record))
    common = ["report", "--dataset", "synthetic_kitti", "--profile", "smoke", "--out", str(page),
              "--figures-dir", str(tmp_path / "figures"), "--results-dir", str(results), "--params-dir", str(PARAMS),
              "--tables", str(run["tables"][0])]
    assert main([*common, "--unscored-runs", str(train_json)]) == 0
    text = page.read_text()
    section = text[text.index('id="unscored-runs"'):text.index('id="protocols"')]
    assert "<code>featdepth_euroc</code>" in section and "EuRoC has no depth evaluation protocol" in section
    assert (tmp_path / "figures" / "training_loss.png").is_file()
    train_json.write_text(json.dumps({**record, "method": "monodepth2"}))
    with pytest.raises(SystemExit, match=r"monodepth2\.yaml: no `unscored` reason"):
        main([*common, "--unscored-runs", str(train_json)])
