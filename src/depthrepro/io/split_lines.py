"""Split files in monodepth2's line format `<name> <frame> l|r`, shared by the KITTI, odometry and NYU readers."""

from __future__ import annotations

from pathlib import Path

SIDES = ("l", "r")


def read_split_lines(path: Path, name: str, numeric_name: bool = False) -> list[tuple[str, int, str]]:
    """`(name, frame, side)` per non-blank line; a malformed line raises ValueError naming file and line.

    `name` is what the first column holds (for the message); `numeric_name` requires it to be digits.
    """
    path = Path(path)
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if (len(tokens) != 3 or not tokens[1].isdigit() or tokens[2] not in SIDES
                or (numeric_name and not tokens[0].isdigit())):
            raise ValueError(f"{path}:{number}: expected '<{name}> <frame> l|r', got {line!r}")
        rows.append((tokens[0], int(tokens[1]), tokens[2]))
    return rows
