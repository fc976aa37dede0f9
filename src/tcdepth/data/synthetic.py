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
from tcdepth.io import load_numeric_npy, load_numeric_npz


class SyntheticLayout:
    """Where the files of the native layout are under ``root`` (docs/synthetic_data.md)::

        <root>/<sequence>/rgb/000000.png, depth/000000.npy, moving/000000.png, corr/000000.npz,
                          intrinsics.yaml, poses.npy
        <root>/splits/{train,val,test}_files.txt
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def sequence_dir(self, sequence: str) -> Path:
        return self.root / sequence

    def _frame_file(self, sequence: str, folder: str, frame: int, suffix: str) -> Path:
        return self.root / sequence / folder / f"{frame:06d}{suffix}"

    def rgb(self, sequence: str, frame: int) -> Path:
        return self._frame_file(sequence, "rgb", frame, ".png")

    def depth(self, sequence: str, frame: int) -> Path:
        return self._frame_file(sequence, "depth", frame, ".npy")

    def moving(self, sequence: str, frame: int) -> Path:
        return self._frame_file(sequence, "moving", frame, ".png")

    def correspondences(self, sequence: str, frame: int) -> Path:
        return self._frame_file(sequence, "corr", frame, ".npz")

    def intrinsics(self, sequence: str) -> Path:
        return self.root / sequence / "intrinsics.yaml"

    def poses(self, sequence: str) -> Path:
        return self.root / sequence / "poses.npy"

    def split(self, name: str) -> Path:
        """The split file ``name`` (``train``, ``val``, ``test``)."""
        return self.root / "splits" / f"{name}_files.txt"


class SyntheticFrames:
    """:class:`~tcdepth.data.frames.FrameSource` of ``<root>/<sequence>/{rgb,depth}/<6-digit>``, the sequence's
    ``intrinsics.yaml`` and ``poses.npy`` (camera-to-world); split files list ``<sequence> <frame>``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"synthetic data root {self.root} does not exist")
        self.layout = SyntheticLayout(root)
        self._folders = FolderIndex()
        self._intrinsics: dict[str, Intrinsics] = {}
        self._poses: dict[str, np.ndarray] = {}

    def read_split(self, path: str | Path) -> list[FrameRef]:
        return [FrameRef(e.sequence, e.frame) for e in read_sequence_split(path)]

    def image_path(self, ref: FrameRef) -> Path:
        return self.layout.rgb(ref.sequence, ref.frame)

    def exists(self, ref: FrameRef) -> bool:
        return ref.frame >= 0 and self._folders.exists(self.image_path(ref))

    def load_image(self, ref: FrameRef) -> Image.Image:
        return read_rgb(self.image_path(ref))

    def intrinsics(self, ref: FrameRef) -> Intrinsics:
        if ref.sequence not in self._intrinsics:
            self._intrinsics[ref.sequence] = load_intrinsics(self.layout.intrinsics(ref.sequence))
        return self._intrinsics[ref.sequence]

    def gt_depth(self, ref: FrameRef) -> np.ndarray:
        """``[H,W]`` metres along z, 0 where unknown (sky)."""
        path = self.layout.depth(ref.sequence, ref.frame)
        if not path.is_file():
            raise FileNotFoundError(f"ground-truth depth {path} does not exist")
        depth = load_numeric_npy(path)
        if depth.ndim != 2 or depth.dtype == object:
            raise ValueError(f"ground-truth depth {path}: expected an [H,W] array, got shape {depth.shape}")
        depth = depth.astype(np.float32)
        return np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float32)

    def poses(self, sequence: str) -> np.ndarray:
        """Camera-to-world poses ``[N,4,4]`` (float64) of the sequence's frames; ``[0,4,4]`` without a pose file."""
        if sequence not in self._poses:
            path = self.layout.poses(sequence)
            poses = load_numeric_npy(path) if path.is_file() else np.empty((0, 4, 4))
            if poses.ndim != 3 or poses.shape[1:] != (4, 4) or poses.dtype == object:
                raise ValueError(f"camera poses {path}: expected an [N,4,4] array, got {poses.dtype} {poses.shape}")
            self._poses[sequence] = poses.astype(np.float64)
        return self._poses[sequence]

    def gt_motion(self, ref: FrameRef, source: FrameRef) -> np.ndarray | None:
        """``T_{ref->source}`` ``[4,4]`` from the camera-to-world poses, or None past their end."""
        poses = self.poses(ref.sequence)
        if max(ref.frame, source.frame) >= len(poses):
            return None
        return np.linalg.inv(poses[source.frame]) @ poses[ref.frame]

    def correspondences(self, ref: FrameRef, offsets) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
        """``(coords, visible)`` of the frame: for each offset ``k``, pixel ``(u, v)`` ``[H,W,2]`` (float64) in
        frame ``ref + k`` of each pixel, and whether it is seen there ``[H,W]``."""
        path = self.layout.correspondences(ref.sequence, ref.frame)
        if not path.is_file():
            raise FileNotFoundError(f"synthetic correspondences {path} do not exist (the TCM needs a dataset rendered "
                                    "with --flow-range of at least half the window)")
        coords, visible = {}, {}
        wanted = {key for k in offsets for key in (f"coords_{k:+d}", f"visible_{k:+d}")}
        corr = load_numeric_npz(path, wanted)
        for k in offsets:
            for key in (f"coords_{k:+d}", f"visible_{k:+d}"):
                if key not in corr:
                    raise ValueError(f"{path}: no key {key!r}; render the sequence with correspondences for at "
                                     f"least +-{max(abs(o) for o in offsets)} frames")
            coords[k] = corr[f"coords_{k:+d}"].astype(np.float64)
            visible[k] = corr[f"visible_{k:+d}"].astype(bool)
        return coords, visible


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
