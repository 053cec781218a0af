"""Downloads against a local HTTP server with injected faults: resume, retries, timeouts, checksums.

The server runs on 127.0.0.1 (ephemeral port) in a daemon thread, answers at most `MAX_REQUESTS`
requests, stalls only until the fixture's teardown releases it, and is shut down by the fixture.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from depthrepro.prepare.catalogue import REQUIRED_KEYS, load_catalogue, select_drives, split_drives
from depthrepro.prepare.download import ChecksumError, DownloadError, download, partial_path
from depthrepro.verbs import download as download_verb

MAX_REQUESTS = 40
PAYLOAD = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes: more than one read chunk
FAST = {"retries": 3, "backoff": 0.01, "timeout": 2.0, "progress": False}


@dataclass
class Fault:
    """What the server does to the first `times` requests of a path."""

    kind: str  # "cut" | "stall" | "corrupt" | "status" | "ignore_range"
    times: int = 1
    at: int = len(PAYLOAD) // 3
    status: int = 503


@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    requests: list[tuple[str, str | None, int]] = field(default_factory=list)  # (path, Range, status)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    state: ServerState
    timeout = 5

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        state = self.state
        with state.lock:
            seen = sum(1 for p, _, _ in state.requests if p == self.path)
            over = len(state.requests) >= MAX_REQUESTS
        body = state.files.get(self.path)
        fault = state.faults.get(self.path)
        active = fault is not None and seen < fault.times
        ranged = self.headers.get("Range")
        if over or body is None or (active and fault.kind == "status"):
            code = 500 if over else (404 if body is None else fault.status)
            self._record(ranged, code)
            self.send_error(code)
            return
        if active and fault.kind == "corrupt":
            body = body[:100] + bytes([body[100] ^ 0xFF]) + body[101:]
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", ranged or "")
        if match and not (fault is not None and fault.kind == "ignore_range"):
            start = int(match.group(1))
        if start >= len(body) > 0 and match:
            self._record(ranged, 416)
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.end_headers()
            return
        code = 206 if start else 200
        self._record(ranged, code)
        self.send_response(code)
        self.send_header("Content-Length", str(len(body) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        if active and fault.kind in ("cut", "stall"):
            self.wfile.write(body[start:fault.at])
            self.wfile.flush()
            if fault.kind == "stall":
                state.release.wait(3.0)
            return
        self.wfile.write(body[start:])

    def _record(self, ranged: str | None, code: int) -> None:
        with self.state.lock:
            self.state.requests.append((self.path, ranged, code))


@pytest.fixture()
def server() -> Iterator[tuple[str, ServerState]]:
    state = ServerState()
    handler = type("Handler", (_Handler,), {"state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_plain_download_verifies_and_is_idempotent(server: tuple[str, ServerState], tmp_path: Path) -> None:
    url, state = server
    state.files["/a.zip"] = PAYLOAD
    dest = tmp_path / "out" / "a.zip"
    assert download(f"{url}/a.zip", dest, sha256=_sha256(PAYLOAD), md5=None, size=len(PAYLOAD), **FAST) == dest
    assert dest.read_bytes() == PAYLOAD
    assert not partial_path(dest).exists()
    download(f"{url}/a.zip", dest, sha256=_sha256(PAYLOAD)[:8], md5=None, size=len(PAYLOAD), **FAST)
    assert len(state.requests) == 1, "a verified existing file must be kept without a request"


def test_cut_connection_resumes_with_range(server: tuple[str, ServerState], tmp_path: Path) -> None:
    url, state = server
    state.files["/cut.zip"] = PAYLOAD
    state.faults["/cut.zip"] = Fault("cut")
    dest = tmp_path / "cut.zip"
    download(f"{url}/cut.zip", dest, sha256=None, md5=hashlib.md5(PAYLOAD).hexdigest(), size=None, **FAST)
    assert dest.read_bytes() == PAYLOAD
    cut = len(PAYLOAD) // 3
    assert state.requests == [("/cut.zip", None, 200), ("/cut.zip", f"bytes={cut}-", 206)]


def test_corrupted_body_raises_and_leaves_nothing(server: tuple[str, ServerState], tmp_path: Path) -> None:
    url, state = server
    state.files["/bad.zip"] = PAYLOAD
    state.faults["/bad.zip"] = Fault("corrupt", times=99)
    dest = tmp_path / "bad.zip"
    with pytest.raises(ChecksumError) as err:
        download(f"{url}/bad.zip", dest, sha256=_sha256(PAYLOAD), md5=None, size=len(PAYLOAD), **FAST)
    message = str(err.value)
    assert str(dest) in message and _sha256(PAYLOAD) in message
    corrupt = PAYLOAD[:100] + bytes([PAYLOAD[100] ^ 0xFF]) + PAYLOAD[101:]
    assert _sha256(corrupt) in message
    assert not dest.exists() and not partial_path(dest).exists()
    assert len(state.requests) == 1


def test_404_is_not_retried(server: tuple[str, ServerState], tmp_path: Path) -> None:
    url, state = server
    with pytest.raises(DownloadError, match=r"missing\.zip: HTTP 404") as err:
        download(f"{url}/missing.zip", tmp_path / "m.zip", sha256=None, md5=None, size=None, **FAST)
    assert f"{url}/missing.zip" in str(err.value)
    assert not isinstance(err.value, ChecksumError)
    assert len(state.requests) == 1


def test_5xx_is_retried(server: tuple[str, ServerState], tmp_path: Path) -> None:
    url, state = server
    state.files["/busy.zip"] = PAYLOAD
    state.faults["/busy.zip"] = Fault("status", times=2, status=503)
    download(f"{url}/busy.zip", tmp_path / "busy.zip", sha256=_sha256(PAYLOAD), md5=None, size=None, **FAST)
    assert [code for _, _, code in state.requests] == [503, 503, 200]


def test_5xx_gives_up_after_retries(server: tuple[str, ServerState], tmp_path: Path) -> None:
    url, state = server
    state.files["/down.zip"] = PAYLOAD
    state.faults["/down.zip"] = Fault("status", times=99, status=500)
    with pytest.raises(DownloadError, match="gave up after 3 retries"):
        download(f"{url}/down.zip", tmp_path / "down.zip", sha256=None, md5=None, size=None, **FAST)
    assert len(state.requests) == 4


def test_stalled_server_times_out_then_resumes(server: tuple[str, ServerState], tmp_path: Path) -> None:
    url, state = server
    state.files["/slow.zip"] = PAYLOAD
    state.faults["/slow.zip"] = Fault("stall")
    dest = tmp_path / "slow.zip"
    started = time.monotonic()
    download(f"{url}/slow.zip", dest, sha256=_sha256(PAYLOAD), md5=None, size=len(PAYLOAD),
             **{**FAST, "timeout": 0.3})
    assert time.monotonic() - started < 2.5, "the stall must be cut by the client's timeout"
    assert dest.read_bytes() == PAYLOAD
    assert [(r, c) for _, r, c in state.requests] == [(None, 200), (f"bytes={len(PAYLOAD) // 3}-", 206)]


def test_server_ignoring_range_restarts_from_zero(server: tuple[str, ServerState], tmp_path: Path) -> None:
    url, state = server
    state.files["/norange.zip"] = PAYLOAD
    state.faults["/norange.zip"] = Fault("ignore_range", times=99)
    dest = tmp_path / "norange.zip"
    partial_path(dest).write_bytes(b"stale bytes of an older attempt")
    download(f"{url}/norange.zip", dest, sha256=_sha256(PAYLOAD), md5=None, size=None, **FAST)
    assert dest.read_bytes() == PAYLOAD
    assert state.requests == [("/norange.zip", "bytes=31-", 200)]


def test_complete_partial_file_is_verified_not_refetched(server: tuple[str, ServerState], tmp_path: Path) -> None:
    url, state = server
    state.files["/done.zip"] = PAYLOAD
    dest = tmp_path / "done.zip"
    partial_path(dest).write_bytes(PAYLOAD)
    download(f"{url}/done.zip", dest, sha256=None, md5=None, size=None, **FAST)
    assert dest.read_bytes() == PAYLOAD
    assert state.requests == [("/done.zip", f"bytes={len(PAYLOAD)}-", 416)]


def test_size_mismatch_announced_by_server(server: tuple[str, ServerState], tmp_path: Path) -> None:
    url, state = server
    state.files["/size.zip"] = PAYLOAD
    with pytest.raises(DownloadError, match=f"announces {len(PAYLOAD)} bytes, the catalogue expects 10"):
        download(f"{url}/size.zip", tmp_path / "size.zip", sha256=None, md5=None, size=10, **FAST)
    assert not (tmp_path / "size.zip").exists()


def test_catalogue_validates(repo_root: Path) -> None:
    catalogue = load_catalogue(repo_root / "params" / "downloads.yaml")
    archives = [a for g in catalogue.values() for a in g.archives]
    raw = catalogue["kitti_raw"].archives
    assert len(raw) == 66 and sum(a.name.endswith("_calib") for a in raw) == 5
    for group in ("kitti_splits", "kitti_depth_annotated", "kitti_odometry", "monorec_odometry", "nyuv2",
                  "imagenet", "checkpoints"):
        assert group in catalogue
    for archive in archives:
        for key in REQUIRED_KEYS:
            assert getattr(archive, key), f"{archive.name}: {key}"
        assert archive.sha256 or archive.md5 or archive.no_checksum, archive.name
        assert not archive.manual or archive.instructions, archive.name
    torchvision = [a for a in archives if a.url.startswith("https://download.pytorch.org/models/")]
    assert len(torchvision) == 2
    for archive in torchvision:
        assert archive.sha256 == re.search(r"-([0-9a-f]{8})\.pth$", archive.url).group(1)
    checkpoint_methods = {m for a in catalogue["checkpoints"].archives for m in a.needed_by}
    assert {"monodepth2", "manydepth", "dualrefine", "epcdepth", "featdepth", "gasmono",
            "dynamic_multiframe"} <= checkpoint_methods
    assert all(a.manual for a in archives if "drive.google.com" in a.url or "onedrive" in a.url
               or "1drv.ms" in a.url)


def test_catalogue_rejects_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "downloads.yaml"
    path.write_text(yaml.safe_dump({"groups": {"g": {"archives": [
        {"name": "x", "url": "https://example.org/x.zip", "dest": "data/x.zip", "needed_by": ["m"]}]}}}))
    with pytest.raises(ValueError, match=r"group 'g', archive 'x': missing required keys \['source'\]"):
        load_catalogue(path)


def test_no_url_in_source_code(repo_root: Path) -> None:
    offenders = [f"{p.relative_to(repo_root)}:{n}" for p in sorted((repo_root / "src").rglob("*.py"))
                 for n, line in enumerate(p.read_text().splitlines(), start=1)
                 if re.search(r"https?://", line)]
    assert not offenders, f"URLs belong in params/downloads.yaml, found in: {offenders}"


def test_split_drive_selection(repo_root: Path, tmp_path: Path) -> None:
    split = tmp_path / "test_files.txt"
    split.write_text("2011_09_26/2011_09_26_drive_0002_sync 69 l\n2011_09_30/2011_09_30_drive_0016_sync 3 r\n"
                     "2011_09_26/2011_09_26_drive_0002_sync 70 l\n")
    raw = load_catalogue(repo_root / "params" / "downloads.yaml")["kitti_raw"].archives
    names = sorted(a.name for a in select_drives(raw, split_drives(split)))
    assert names == ["2011_09_26_calib", "2011_09_26_drive_0002_sync", "2011_09_30_calib",
                     "2011_09_30_drive_0016_sync"]


def test_verb_downloads_a_catalogue_group(server: tuple[str, ServerState], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    url, state = server
    state.files["/w.pth"] = PAYLOAD
    catalogue = tmp_path / "downloads.yaml"
    catalogue.write_text(yaml.safe_dump({"groups": {"weights": {"archives": [
        {"name": "w", "url": f"{url}/w.pth", "dest": "resources/w.pth", "sha256": _sha256(PAYLOAD)[:8],
         "needed_by": ["m"], "source": "test"},
        {"name": "manual_w", "url": f"{url}/page", "dest": "resources/m.pth", "manual": True,
         "instructions": "save it by hand", "no_checksum": "none", "needed_by": ["m"], "source": "test"},
    ]}}}))
    parser = argparse.ArgumentParser()
    download_verb.add_arguments(parser)
    args = parser.parse_args(["--catalogue", str(catalogue), "--root", str(tmp_path), "--group", "weights",
                              "--no-progress", "--manifest", str(tmp_path / "manifest.json")])
    assert download_verb.run(args) == 1, "a missing manual archive must fail the verb"
    assert (tmp_path / "resources" / "w.pth").read_bytes() == PAYLOAD
    out = capsys.readouterr().out
    assert "save it by hand" in out
    assert [p for p, _, _ in state.requests] == ["/w.pth"], "manual archives are never requested"


def test_verb_unpacks_and_merges_annotated_depth(server: tuple[str, ServerState], tmp_path: Path) -> None:
    url, state = server
    drive = "2011_09_26_drive_0001_sync"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(f"train/{drive}/proj_depth/groundtruth/image_02/0000000005.png", b"depth")
        zf.writestr("val/2011_09_26_drive_0002_sync/proj_depth/groundtruth/image_02/0000000005.png", b"d2")
    state.files["/data_depth_annotated.zip"] = buffer.getvalue()
    (tmp_path / "data" / "kitti_raw" / "2011_09_26" / drive).mkdir(parents=True)
    catalogue = tmp_path / "downloads.yaml"
    catalogue.write_text(yaml.safe_dump({"groups": {"annotated": {"merge_into": "data/kitti_raw", "archives": [
        {"name": "data_depth_annotated", "url": f"{url}/data_depth_annotated.zip",
         "dest": "data/archives/data_depth_annotated.zip", "unpack_to": "data/kitti_depth_annotated",
         "no_checksum": "none published", "needed_by": ["kitti"], "source": "test"}]}}}))
    parser = argparse.ArgumentParser()
    download_verb.add_arguments(parser)
    args = parser.parse_args(["--catalogue", str(catalogue), "--root", str(tmp_path), "--group", "annotated",
                              "--unpack", "--no-progress", "--manifest", str(tmp_path / "manifest.json")])
    assert download_verb.run(args) == 0
    merged = tmp_path / "data" / "kitti_raw" / "2011_09_26" / drive / "proj_depth" / "groundtruth"
    assert (merged / "image_02" / "0000000005.png").read_bytes() == b"depth"
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["data_depth_annotated"]["merge"]["unplaced"].keys() == {"2011_09_26_drive_0002_sync"}
