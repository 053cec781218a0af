"""Released checkpoints in the authors' layouts load, unchanged, into the model their params file names."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from depthrepro.io.released import read_release, release_files
from depthrepro.methods.params_file import load_method_params, model_config
from depthrepro.methods.registry import build_method
from depthrepro.methods.release_import import import_release
from depthrepro.prepare.catalogue import Archive
from depthrepro.prepare.releases import Release

pytestmark = pytest.mark.usefixtures("one_thread")


def _release(name: str, params: str, profile: str, dest: str, unpack_to: str | None = None, **extra) -> Release:
    archive = Archive(name, "checkpoints", "https://example.org/x.zip", Path(dest), (params,), "test",
                      no_checksum="test", unpack_to=Path(unpack_to) if unpack_to else None)
    return Release(name, archive, params, profile, **extra)


def _network(params_dir: Path, params: str, profile: str, **model) -> torch.nn.Module:
    p, prof = load_method_params(params_dir, params, profile)
    return build_method(p.get("method", params), {**model_config(p, prof), **model})


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    theirs = b.state_dict()
    for key, value in a.state_dict().items():
        assert torch.equal(value, theirs[key]), key


def test_monodepth2_folder_release(repo_root: Path, tmp_path: Path) -> None:
    torch.manual_seed(1)
    released = _network(repo_root / "params", "monodepth2", "paper")
    folder = tmp_path / "resources/mono_640x192"
    folder.mkdir(parents=True)
    for name, entries in released.checkpoint_state().items():
        torch.save(entries, folder / f"{name}.pth")
    release = _release("mono", "monodepth2", "paper", "resources/mono.zip", "resources/mono_640x192")
    checkpoint = import_release(release, repo_root / "params", tmp_path)
    assert checkpoint["stage"] == "official" and checkpoint["release"] == "mono"
    assert (checkpoint["model_cfg"]["height"], checkpoint["model_cfg"]["width"]) == (192, 640)
    loaded = build_method(checkpoint["method"], checkpoint["model_cfg"])
    loaded.load_checkpoint_state(checkpoint["state"])
    _assert_same_weights(released, loaded)


def test_single_file_release_with_a_model_override(repo_root: Path, tmp_path: Path) -> None:
    torch.manual_seed(2)
    released = _network(repo_root / "params", "epcdepth", "paper")
    path = tmp_path / "resources/model18_lr.pth.tar"
    path.parent.mkdir(parents=True)
    torch.save({**released.checkpoint_state(), "epoch": 19, "abs_rel": 0.1}, path)
    release = _release("epc_d2", "epcdepth", "paper", "resources/model18_lr.pth.tar", model={"output_scale": 2})
    checkpoint = import_release(release, repo_root / "params", tmp_path)
    assert checkpoint["model_cfg"]["output_scale"] == 2
    assert checkpoint["trained_with_stereo"] is True
    loaded = build_method(checkpoint["method"], checkpoint["model_cfg"])
    loaded.load_checkpoint_state(checkpoint["state"])
    _assert_same_weights(released, loaded)


def test_a_release_that_does_not_match_its_model_fails_naming_it(repo_root: Path, tmp_path: Path) -> None:
    released = _network(repo_root / "params", "epcdepth", "paper")
    state = released.checkpoint_state()
    state["encoder"].pop(next(iter(state["encoder"])))
    path = tmp_path / "resources/broken.pth.tar"
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    release = _release("broken", "epcdepth", "paper", "resources/broken.pth.tar")
    with pytest.raises(SystemExit, match=r"broken\.pth\.tar: release 'broken' does not load into epcdepth"):
        import_release(release, repo_root / "params", tmp_path)


def test_release_files_find_the_named_file_and_refuse_ambiguity(tmp_path: Path) -> None:
    (tmp_path / "zip/DualRefine_MR").mkdir(parents=True)
    torch.save({"a": torch.ones(1)}, tmp_path / "zip/DualRefine_MR/depth_pose.pth")
    torch.save({"b": torch.ones(1)}, tmp_path / "zip/DualRefine_MR/adam.pth")
    assert release_files(tmp_path / "zip", "depth_pose.pth") == [tmp_path / "zip/DualRefine_MR/depth_pose.pth"]
    assert torch.equal(read_release(tmp_path / "zip", "depth_pose.pth")["a"], torch.ones(1))
    assert sorted(read_release(tmp_path / "zip")) == ["adam", "depth_pose"]
    (tmp_path / "zip/copy").mkdir()
    torch.save({}, tmp_path / "zip/copy/depth_pose.pth")
    with pytest.raises(FileNotFoundError, match="exactly one 'depth_pose.pth'"):
        release_files(tmp_path / "zip", "depth_pose.pth")
    with pytest.raises(FileNotFoundError, match="more than once"):
        release_files(tmp_path / "zip", None)
    with pytest.raises(FileNotFoundError, match="not downloaded"):
        release_files(tmp_path / "absent", None)
