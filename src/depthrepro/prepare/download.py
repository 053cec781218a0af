"""HTTP downloads that survive real networks: Range resume, retries with backoff, verified atomic rename.

The bytes go to ``<dest>.part``; a cut connection, a stalled body, a 5xx answer or a refused connection
is retried with exponential backoff, resuming the partial file with an HTTP ``Range`` request (a server
that ignores ``Range`` and answers 200 restarts the file from zero). Once the body is complete it is
checked against the expected size and sha256 or md5, and only then renamed to ``dest``: a file at
``dest`` is always a verified one, so an existing ``dest`` is checked and kept without any request.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
USER_AGENT = "depthrepro-download"
# Client-side statuses worth retrying: request timeout, too early, rate limited. All 5xx are retried too.
RETRYABLE_4XX = frozenset({408, 425, 429})
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")


class DownloadError(RuntimeError):
    """A download that cannot succeed as asked (4xx answer, retries spent, size disagreement)."""


class ChecksumError(DownloadError):
    """A complete file whose size or hash is not the expected one."""


class _Transient(Exception):
    """A failure worth retrying: the partial file is kept and resumed."""


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None,
    md5: str | None,
    size: int | None,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 30.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` and return ``dest``.

    ``sha256`` may be a full digest or a prefix of at least 8 hex digits (torchvision names its weight
    files with one); ``size`` is in bytes. With none of the three, only the completeness of the transfer
    (the server's Content-Length) is checked. ``retries`` counts consecutive failed attempts that
    brought no new bytes; attempt k waits ``backoff * 2**(k-1)`` seconds. ``timeout`` bounds every
    socket operation, so a server that stalls mid-body is detected.
    """
    dest = Path(dest)
    if dest.exists():
        verify_file(dest, sha256=sha256, md5=md5, size=size)
        log.info("%s: present and verified, not downloaded again", dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = partial_path(dest)
    best = _file_size(part)
    failures = 0
    while True:
        try:
            _fetch(url, part, size=size, timeout=timeout, progress=progress, label=dest.name)
            break
        except _Transient as err:
            have = _file_size(part)
            if have > best:
                best, failures = have, 0
            else:
                failures += 1
            if failures > retries:
                raise DownloadError(f"{url}: gave up after {retries} retries without progress "
                                    f"({have} bytes kept in {part}): {err}") from err
            delay = backoff * 2 ** max(failures - 1, 0)
            log.warning("%s: %s; retrying in %.2f s from byte %d", url, err, delay, have)
            time.sleep(delay)
    try:
        verify_file(part, sha256=sha256, md5=md5, size=size, label=dest)
    except ChecksumError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    log.info("%s: downloaded and verified", dest)
    return dest


def partial_path(dest: Path) -> Path:
    """Where the bytes of ``dest`` accumulate until verified: ``<dest>.part``."""
    return dest.with_name(dest.name + ".part")


def verify_file(
    path: Path, *, sha256: str | None, md5: str | None, size: int | None, label: Path | None = None
) -> None:
    """Raise ``ChecksumError`` naming ``label`` (default ``path``) unless size and hashes match."""
    name = label if label is not None else path
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise ChecksumError(f"{name}: size mismatch: expected {size} bytes, got {actual_size}")
    digests = {algo: hashlib.new(algo) for algo, want in (("sha256", sha256), ("md5", md5)) if want}
    if not digests:
        return
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK_BYTES):
            for digest in digests.values():
                digest.update(block)
    for algo, want in (("sha256", sha256), ("md5", md5)):
        if want and not digests[algo].hexdigest().startswith(want.lower()):
            raise ChecksumError(f"{name}: {algo} mismatch: expected {want.lower()}, "
                                f"got {digests[algo].hexdigest()}")


def _file_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _fetch(url: str, part: Path, *, size: int | None, timeout: float, progress: bool, label: str) -> None:
    """One attempt: request the missing bytes of ``part`` and append them; raise ``_Transient`` to retry."""
    offset = _file_size(part)
    if size is not None and offset > size:
        log.warning("%s: %d bytes, more than the expected %d; restarting from zero", part, offset, size)
        part.unlink()
        offset = 0
    if size is not None and offset == size:
        return
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and offset:
            if _unsatisfied_total(err.headers.get("Content-Range")) == offset:
                return
            part.unlink()
            raise _Transient(f"HTTP 416 for a {offset}-byte partial file; restarting from zero") from err
        if err.code >= 500 or err.code in RETRYABLE_4XX:
            raise _Transient(f"HTTP {err.code} {err.reason}") from err
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason} (not retried)") from err
    except (OSError, http.client.HTTPException) as err:
        raise _Transient(f"connection failed: {err}") from err
    with response:
        start, total = _body_span(response, offset, part)
        if size is not None and total is not None and total != size:
            part.unlink(missing_ok=True)
            raise DownloadError(f"{url}: the server announces {total} bytes, the catalogue expects {size}")
        _write_body(response, part, start, total, progress=progress, label=label)
    have = _file_size(part)
    if total is not None and have < total:
        raise _Transient(f"connection closed after {have} of {total} bytes")
    if total is not None and have > total:
        part.unlink()
        raise _Transient(f"received {have} bytes, more than the announced {total}; restarting from zero")


def _body_span(response: http.client.HTTPResponse, offset: int, part: Path) -> tuple[int, int | None]:
    """(first byte of the body in the file, total file size or None) from the response headers."""
    if offset and response.status == 206:
        match = _CONTENT_RANGE.fullmatch((response.headers.get("Content-Range") or "").strip())
        if match is None or int(match.group(1)) != offset:
            part.unlink()
            raise _Transient(f"unusable Content-Range {response.headers.get('Content-Range')!r} "
                             f"for a resume at byte {offset}; restarting from zero")
        return offset, None if match.group(3) == "*" else int(match.group(3))
    if offset:
        log.info("%s: the server ignored the Range request (HTTP %d); restarting from zero",
                 part, response.status)
    length = response.headers.get("Content-Length")
    return 0, int(length) if length is not None else None


def _write_body(
    response: http.client.HTTPResponse, part: Path, start: int, total: int | None, *, progress: bool, label: str
) -> None:
    """Stream the body into ``part`` from byte ``start`` (0 truncates), flushed to disk even when cut.

    ``read1`` hands over whatever arrived, so the bytes received before a stall are kept for the resume.
    """
    with open(part, "ab" if start else "wb") as fh, tqdm(
        total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
        disable=not progress, leave=False,
    ) as bar:
        try:
            while block := response.read1(CHUNK_BYTES):
                fh.write(block)
                bar.update(len(block))
        except (OSError, http.client.HTTPException) as err:
            raise _Transient(f"transfer interrupted after {fh.tell()} bytes: {err!r}") from err
        finally:
            fh.flush()
            os.fsync(fh.fileno())


def _unsatisfied_total(content_range: str | None) -> int | None:
    match = _UNSATISFIED_RANGE.fullmatch((content_range or "").strip())
    return int(match.group(1)) if match else None
