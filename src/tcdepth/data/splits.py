"""Split files: one sample (a centre frame) per line.

* KITTI raw: ``<date>/<date>_drive_<nnnn>_sync <frame index> <l|r>`` (``l`` = ``image_02``, ``r`` = ``image_03``).
* Synthetic (native layout): ``<sequence> <frame index>``.

Blank lines are ignored; any other malformed line raises ``ValueError`` naming the file and the line number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SIDE_TO_CAMERA = {"l": 2, "r": 3}


@dataclass(frozen=True)
class KittiSplitEntry:
    """One line of a KITTI split file: ``folder`` is ``<date>/<drive>``, ``side`` is ``"l"`` or ``"r"``."""

    folder: str
    frame: int
    side: str

    @property
    def date(self) -> str:
        return self.folder.split("/")[0]

    @property
    def camera(self) -> int:
        """KITTI camera index: 2 for the left colour camera, 3 for the right one."""
        return SIDE_TO_CAMERA[self.side]


@dataclass(frozen=True)
class SequenceSplitEntry:
    """One line of a synthetic split file."""

    sequence: str
    frame: int


def _lines(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"split file {path} does not exist")
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            yield number, line.split()


def _frame_index(value: str, path: Path, number: int, line: list[str]) -> int:
    if not value.isdigit():
        raise ValueError(f"{path}:{number}: frame index must be a non-negative integer, got {value!r} "
                         f"in line {' '.join(line)!r}")
    return int(value)


def read_kitti_split(path: str | Path) -> list[KittiSplitEntry]:
    """Parse a KITTI raw split file (``<date>/<date>_drive_<nnnn>_sync <frame> <l|r>`` per line)."""
    path = Path(path)
    entries = []
    for number, fields in _lines(path):
        if len(fields) != 3:
            raise ValueError(f"{path}:{number}: expected '<date>/<drive> <frame> <l|r>', got {' '.join(fields)!r}")
        folder, frame, side = fields
        parts = folder.split("/")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"{path}:{number}: expected a '<date>/<drive>' folder, got {folder!r}")
        if side not in SIDE_TO_CAMERA:
            raise ValueError(f"{path}:{number}: side must be 'l' or 'r', got {side!r}")
        entries.append(KittiSplitEntry(folder, _frame_index(frame, path, number, fields), side))
    return entries


def read_sequence_split(path: str | Path) -> list[SequenceSplitEntry]:
    """Parse a synthetic split file (``<sequence> <frame>`` per line)."""
    path = Path(path)
    entries = []
    for number, fields in _lines(path):
        if len(fields) != 2:
            raise ValueError(f"{path}:{number}: expected '<sequence> <frame>', got {' '.join(fields)!r}")
        entries.append(SequenceSplitEntry(fields[0], _frame_index(fields[1], path, number, fields)))
    return entries
