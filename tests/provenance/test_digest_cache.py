"""`DigestCache` returns exactly the uncached digests, skips parsing on an unchanged tree, and misses on edits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import depthrepro.provenance.code_digest as code_digest_module
from depthrepro.provenance.code_digest import DigestCache, code_digest

SCORE = ["depthrepro.verbs.score"]


def _write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())
    return path


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    _write(root, "depthrepro/__init__.py", '"""pkg."""\n')
    _write(root, "depthrepro/a/__init__.py", "")
    _write(root, "depthrepro/a/metrics.py", "def f(x):\n    return x * 2\n")
    _write(root, "depthrepro/a/other.py", "def g():\n    return 1\n")
    _write(root, "depthrepro/verbs/__init__.py", "")
    _write(root, "depthrepro/verbs/score.py", "from depthrepro.a.metrics import f\nfrom ..a import helpers\n")
    return root


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(source: str, path: Path) -> None:
        raise AssertionError(f"parsed {path}")

    monkeypatch.setattr(code_digest_module, "_parse_source", refuse)


def test_a_fresh_cache_file_gives_the_uncached_digest_without_parsing(tree: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cache_file = tmp_path / "cache" / "digests.json"
    expected = code_digest(tree, SCORE)
    assert code_digest(tree, SCORE, cache=DigestCache(cache_file)) == expected
    assert cache_file.is_file()
    _no_parsing(monkeypatch)
    assert code_digest(tree, SCORE, cache=DigestCache(cache_file)) == expected  # another process, same tree


def test_edits_miss_and_give_what_the_uncached_digest_gives(tree: Path, tmp_path: Path) -> None:
    cache = DigestCache(tmp_path / "digests.json")
    before = code_digest(tree, SCORE, cache=cache)
    _write(tree, "depthrepro/a/metrics.py", '"""Doc."""\n\n\ndef f(x):  # comment\n    return x*2\n')
    assert code_digest(tree, SCORE, cache=cache) == before  # comments, docstrings and layout are not code
    _write(tree, "depthrepro/a/metrics.py", "def f(x):\n    return x * 3\n")
    edited = code_digest(tree, SCORE, cache=cache)
    assert edited != before and edited == code_digest(tree, SCORE)
    # a module that appears where an import pointed at a name joins the closure
    _write(tree, "depthrepro/a/helpers.py", "H = 1\n")
    assert code_digest(tree, SCORE, cache=cache) == code_digest(tree, SCORE) != edited


def test_a_cache_of_another_normalisation_or_a_torn_file_is_ignored(tree: Path, tmp_path: Path) -> None:
    expected = code_digest(tree, SCORE)
    cache_file = tmp_path / "digests.json"
    code_digest(tree, SCORE, cache=DigestCache(cache_file))
    stored = json.loads(cache_file.read_text())
    stored["digests"] = {key: "0" * 64 for key in stored["digests"]}
    cache_file.write_text(json.dumps({**stored, "normalisation": "python2.7:older-code"}))
    assert code_digest(tree, SCORE, cache=DigestCache(cache_file)) == expected
    cache_file.write_text('{"normalisation": ')
    assert code_digest(tree, SCORE, cache=DigestCache(cache_file)) == expected


def test_the_file_keeps_at_most_max_entries_of_each_kind(tree: Path, tmp_path: Path) -> None:
    cache_file = tmp_path / "digests.json"
    cache = DigestCache(cache_file, max_entries=3)
    for factor in range(5):
        _write(tree, "depthrepro/a/metrics.py", f"def f(x):\n    return x * {factor}\n")
        assert code_digest(tree, SCORE, cache=cache) == code_digest(tree, SCORE)
    stored = json.loads(cache_file.read_text())
    assert len(stored["imports"]) <= 3 and len(stored["digests"]) <= 3
