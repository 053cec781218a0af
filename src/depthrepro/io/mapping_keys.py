"""Key checks of the mappings read from params files: every required key, nothing unknown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def check_mapping_keys(where: str, entry: Any, required: Sequence[str], optional: Sequence[str] = (),
                       error: type[Exception] = ValueError) -> None:
    """Raise ``error`` naming ``where`` unless ``entry`` is a mapping with every ``required`` key and no key
    beyond ``required`` and ``optional``."""
    if not isinstance(entry, dict):
        raise error(f"{where}: expected a mapping")
    missing = [key for key in required if key not in entry]
    if missing:
        raise error(f"{where}: missing key(s) {missing}; expected {list(required)}")
    unknown = sorted(set(entry) - set(required) - set(optional))
    if unknown:
        raise error(f"{where}: unknown key(s) {unknown}; expected {list(required)} and optionally {list(optional)}")
