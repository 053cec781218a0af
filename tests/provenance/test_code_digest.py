"""Code digests follow the import graph and ignore formatting, comments and docstrings."""

from __future__ import annotations

from pathlib import Path

import pytest

from depthrepro.provenance.code_digest import code_digest, library_versions, module_closure


def _write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    _write(tmp_path, "depthrepro/__init__.py", '"""pkg."""\n')
    _write(tmp_path, "depthrepro/a/__init__.py", "")
    _write(tmp_path, "depthrepro/a/metrics.py", "def f(x):\n    return x * 2\n")
    _write(tmp_path, "depthrepro/a/other.py", "def g():\n    return 1\n")
    _write(tmp_path, "depthrepro/verbs/__init__.py", "")
    _write(tmp_path, "depthrepro/verbs/score.py", "from depthrepro.a.metrics import f\nimport numpy\n")
    _write(tmp_path, "depthrepro/verbs/rel.py", "from ..a import other\n")
    return tmp_path


def test_closure_follows_absolute_and_relative_imports(tree: Path) -> None:
    assert set(module_closure(tree, ["depthrepro.verbs.score"])) == {
        "depthrepro", "depthrepro.verbs", "depthrepro.verbs.score", "depthrepro.a", "depthrepro.a.metrics"}
    assert "depthrepro.a.other" in module_closure(tree, ["depthrepro.verbs.rel"])


def test_digest_changes_only_with_code_in_the_closure(tree: Path) -> None:
    before = code_digest(tree, ["depthrepro.verbs.score"])
    _write(tree, "depthrepro/a/other.py", "def g():\n    return 2\n")
    assert code_digest(tree, ["depthrepro.verbs.score"]) == before
    _write(tree, "depthrepro/a/metrics.py", '"""Doc."""\n\n\ndef f(x):  # comment\n    """Twice."""\n    return x*2\n')
    assert code_digest(tree, ["depthrepro.verbs.score"]) == before
    _write(tree, "depthrepro/a/metrics.py", "def f(x):\n    return x * 3\n")
    assert code_digest(tree, ["depthrepro.verbs.score"]) != before


def test_missing_entry_module_is_an_error(tree: Path) -> None:
    with pytest.raises(FileNotFoundError, match="depthrepro.verbs.nope"):
        code_digest(tree, ["depthrepro.verbs.nope"])


def test_library_versions_without_import() -> None:
    text = library_versions(["numpy", "surely-not-installed-dist"])
    assert text.startswith("numpy=") and "surely-not-installed-dist=absent" in text
