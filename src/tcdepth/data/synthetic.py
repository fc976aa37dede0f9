"""``SyntheticDataset``: the native layout written by ``tcdepth synth`` (docs/architecture.md, docs/data.md)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from tcdepth.data.augment import AugmentSettings
from tcdepth.data.base import FolderIndex, FrameSequenceDataset, read_rgb
from tcdepth.data.intrinsics import Intrinsics, load_intrinsics
from tcdepth.data.splits import SequenceSplitEntry, read_sequence_split


def frame_name(frame: int) -> str:
    return f"{frame:06d}"


class SyntheticDataset(FrameSequenceDataset):
    """Samples of ``<root>/<sequence>/rgb/<6-digit>.png`` listed in a ``<sequence> <frame>`` split file.

    Ground truth ``depth_gt`` comes from ``depth/<6-digit>.npy`` (``+inf`` sky -> 0 = unknown) when
    ``load_depth_gt``. Centre frames whose neighbours do not exist are dropped (``num_dropped``).
    """

    def __init__(
        self,
        root: str | Path,
        split_file: str | Path,
        height: int,
        width: int,
        frame_ids: Sequence[int] = (0, -1, 1),
        scales: Sequence[int] = (0, 1, 2, 3),
        augment: AugmentSettings | None = None,
        load_depth_gt: bool = True,
        seed: int = 0,
    ):
        super().__init__(height, width, frame_ids, scales, augment, seed)
        self.root = Path(root)
        self.load_depth = load_depth_gt
        folders = FolderIndex()
        entries = read_sequence_split(split_file)
        self.entries: list[SequenceSplitEntry] = [
            e for e in entries
            if all(folders.exists(self.rgb_path(e.sequence, e.frame + offset)) for offset in self.frame_ids)
        ]
        self.report_dropped(len(entries) - len(self.entries),
                            f"a frame of offsets {self.frame_ids} is missing (sequence boundary) in {split_file}")
        self._intrinsics: dict[str, Intrinsics] = {}

    def rgb_path(self, sequence: str, frame: int) -> Path:
        return self.root / sequence / "rgb" / f"{frame_name(frame)}.png"

    def __len__(self) -> int:
        return len(self.entries)

    def load_frames(self, index: int) -> list[Image.Image]:
        entry = self.entries[index]
        return [read_rgb(self.rgb_path(entry.sequence, entry.frame + offset)) for offset in self.frame_ids]

    def intrinsics(self, index: int) -> Intrinsics:
        sequence = self.entries[index].sequence
        if sequence not in self._intrinsics:
            self._intrinsics[sequence] = load_intrinsics(self.root / sequence / "intrinsics.yaml")
        return self._intrinsics[sequence]

    def load_depth_gt(self, index: int) -> np.ndarray | None:
        if not self.load_depth:
            return None
        entry = self.entries[index]
        path = self.root / entry.sequence / "depth" / f"{frame_name(entry.frame)}.npy"
        if not path.is_file():
            raise FileNotFoundError(f"ground-truth depth {path} does not exist")
        depth = np.load(path)
        if depth.ndim != 2:
            raise ValueError(f"ground-truth depth {path}: expected an [H,W] array, got shape {depth.shape}")
        return depth
