"""Open the authors' released checkpoint files without their code and without running pickled code.

`load_released_file` reads a `.pth`/`.pth.tar` with `torch.load(weights_only=True)`; every global outside
torch's allow-list (a pickled config class, `pathlib` paths, numpy scalars, ...) is replaced by an inert
`ReleasedObject` subclass of the same name. `read_release` turns a downloaded release (one file, or a
folder of per-network `.pth` files) into the contents a method's `load_checkpoint_state` takes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


class ReleasedObject:
    """Inert stand-in for a class a released checkpoint pickles: it keeps the constructor arguments and
    the pickled state and runs nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs, self.state = args, kwargs, None

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _stand_in(qualified_name: str) -> type[ReleasedObject]:
    module, _, name = qualified_name.rpartition(".")
    return type(name, (ReleasedObject,), {"__module__": module, "__qualname__": name})


def load_released_file(path: str | Path) -> Any:
    """The contents of one checkpoint file, unknown pickled classes replaced by `ReleasedObject`s."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: released checkpoint file not found")
    names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    with torch.serialization.safe_globals([_stand_in(name) for name in names]):
        return torch.load(path, map_location="cpu", weights_only=True)


def _one_file(root: Path, name: str) -> Path:
    found = sorted(p for p in root.rglob(name) if p.is_file())
    if len(found) != 1:
        raise FileNotFoundError(f"{root}: expected exactly one {name!r} in the unpacked release, found "
                                f"{[str(p) for p in found] or 'none'}")
    return found[0]


def release_files(root: Path, file: str | None) -> list[Path]:
    """The files a release is read from: `root` itself (a file), the one `file` under the folder `root`,
    or every `.pth` under it (a folder of per-network files, at any depth the archive put them)."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: release not downloaded (neither a file nor an unpacked folder)")
    if file:
        return [_one_file(root, file)]
    files = sorted(p for p in root.rglob("*.pth") if p.is_file())
    stems = [p.stem for p in files]
    duplicated = sorted({s for s in stems if stems.count(s) > 1})
    if not files or duplicated:
        raise FileNotFoundError(f"{root}: expected one folder of per-network .pth files, found "
                                f"{'none' if not files else f'{duplicated} more than once'}")
    return files


def read_release(root: Path, file: str | None = None) -> Any:
    """A release's contents: one file's contents, or `{file stem: contents}` for a folder of `.pth`."""
    files = release_files(root, file)
    if root.is_file() or file:
        return load_released_file(files[0])
    return {p.stem: load_released_file(p) for p in files}
