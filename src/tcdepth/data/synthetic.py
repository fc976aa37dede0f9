"""The synthetic native layout written by ``tcdepth synth`` (docs/architecture.md, docs/data.md): its frame source
and its training dataset."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from tcdepth.data.augment import AugmentSettings
from tcdepth.data.base import FolderIndex, read_rgb
from tcdepth.data.frames import FrameRef, FrameSourceDataset
from tcdepth.data.intrinsics import Intrinsics, load_intrinsics
from tcdepth.data.splits import read_sequence_split


def frame_name(frame: int) -> str:
    return f"{frame:06d}"


class SyntheticFrames:
    """:class:`~tcdepth.data.frames.FrameSource` of ``<root>/<sequence>/{rgb,depth}/<6-digit>``, the sequence's
    ``intrinsics.yaml`` and ``poses.npy`` (camera-to-world); split files list ``<sequence> <frame>``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"synthetic data root {self.root} does not exist")
        self._folders = FolderIndex()
        self._intrinsics: dict[str, Intrinsics] = {}
        self._poses: dict[str, np.ndarray] = {}

    def read_split(self, path: str | Path) -> list[FrameRef]:
        return [FrameRef(e.sequence, e.frame) for e in read_sequence_split(path)]

    def image_path(self, ref: FrameRef) -> Path:
        return self.root / ref.sequence / "rgb" / f"{frame_name(ref.frame)}.png"

    def exists(self, ref: FrameRef) -> bool:
        return ref.frame >= 0 and self._folders.exists(self.image_path(ref))

    def load_image(self, ref: FrameRef) -> Image.Image:
        return read_rgb(self.image_path(ref))

    def intrinsics(self, ref: FrameRef) -> Intrinsics:
        if ref.sequence not in self._intrinsics:
            self._intrinsics[ref.sequence] = load_intrinsics(self.root / ref.sequence / "intrinsics.yaml")
        return self._intrinsics[ref.sequence]

    def gt_depth(self, ref: FrameRef) -> np.ndarray:
        """``[H,W]`` metres along z, 0 where unknown (sky)."""
        path = self.root / ref.sequence / "depth" / f"{frame_name(ref.frame)}.npy"
        if not path.is_file():
            raise FileNotFoundError(f"ground-truth depth {path} does not exist")
        depth = np.load(path)
        if depth.ndim != 2:
            raise ValueError(f"ground-truth depth {path}: expected an [H,W] array, got shape {depth.shape}")
        depth = depth.astype(np.float32)
        return np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float32)

    def gt_motion(self, ref: FrameRef, source: FrameRef) -> np.ndarray | None:
        """``T_{ref->source}`` ``[4,4]`` from ``poses.npy``, or None past its end."""
        if ref.sequence not in self._poses:
            path = self.root / ref.sequence / "poses.npy"
            self._poses[ref.sequence] = np.load(path).astype(np.float64) if path.is_file() else np.empty((0, 4, 4))
        poses = self._poses[ref.sequence]
        if max(ref.frame, source.frame) >= len(poses):
            return None
        return np.linalg.inv(poses[source.frame]) @ poses[ref.frame]


class SyntheticDataset(FrameSourceDataset):
    """Samples of the centre frames listed in a ``<sequence> <frame>`` split file of a synthetic root.

    Ground truth ``depth_gt`` comes from ``depth/<6-digit>.npy`` (sky -> 0 = unknown) when ``load_depth_gt``.
    Centre frames whose neighbours do not exist are dropped (``num_dropped``).
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
        source = SyntheticFrames(root)
        super().__init__(source, source.read_split(split_file), height, width, frame_ids, scales, augment,
                         load_depth_gt, seed,
                         f"a frame of offsets {list(frame_ids)} is missing (sequence boundary) in {split_file}")
