"""Frames of sequences with their camera and ground truth: one protocol (:class:`FrameSource`) for every source
(the synthetic native layout, KITTI raw, a video), and the training sample dataset built on any of them.

A frame is named by a :class:`FrameRef` (sequence, frame index, camera). Training (:class:`FrameSourceDataset`),
evaluation and test-time refinement read frames only through a source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from tcdepth.data.augment import AugmentSettings
from tcdepth.data.base import FrameSequenceDataset
from tcdepth.data.intrinsics import Intrinsics


@dataclass(frozen=True)
class FrameRef:
    """One frame: ``sequence`` is a synthetic sequence, a KITTI ``<date>/<drive>`` or a video's name; ``camera`` is
    KITTI's camera index (2 = left colour, 3 = right colour; 2 elsewhere)."""

    sequence: str
    frame: int
    camera: int = 2

    @property
    def name(self) -> str:
        return f"{self.sequence} {self.frame}"

    def at(self, frame: int) -> FrameRef:
        """The frame ``frame`` of the same sequence and camera."""
        return FrameRef(self.sequence, frame, self.camera)


class FrameSource(Protocol):
    """Frames of sequences, their cameras and, where the source has them, ground-truth depth and motion."""

    def read_split(self, path: str | Path) -> list[FrameRef]:
        """The frames listed in a split file of this source's format."""

    def exists(self, ref: FrameRef) -> bool:
        """Whether the frame exists (a negative index or one past the end does not)."""

    def load_image(self, ref: FrameRef) -> Image.Image:
        """The RGB frame; FileNotFoundError naming the file when it does not exist."""

    def intrinsics(self, ref: FrameRef) -> Intrinsics:
        """The camera of the frame."""

    def gt_depth(self, ref: FrameRef) -> np.ndarray:
        """Ground-truth depth ``[H,W]`` in metres, 0 where unknown; FileNotFoundError when the source has none."""

    def gt_motion(self, ref: FrameRef, source: FrameRef) -> np.ndarray | None:
        """Ground-truth ``T_{ref->source}`` ``[4,4]`` (points of ``ref``'s camera into ``source``'s), or None."""


def complete_triplets(source: FrameSource, refs: Sequence[FrameRef], frame_ids: Sequence[int]) -> list[FrameRef]:
    """The centre frames of ``refs`` whose every neighbour ``centre + offset`` exists."""
    return [ref for ref in refs if all(source.exists(ref.at(ref.frame + offset)) for offset in frame_ids)]


class FrameSourceDataset(FrameSequenceDataset):
    """Training samples (docs/architecture.md) of the centre frames ``entries`` of a frame source.

    Centre frames whose neighbours (``frame_ids``) do not exist are dropped (``num_dropped``, with ``drop_reason``
    in the log); with ``load_depth_gt`` the sample holds the centre frame's ground truth.
    """

    def __init__(self, source: FrameSource, centres: Sequence[FrameRef], height: int, width: int,
                 frame_ids: Sequence[int] = (0, -1, 1), scales: Sequence[int] = (0, 1, 2, 3),
                 augment: AugmentSettings | None = None, load_depth_gt: bool = False, seed: int = 0,
                 drop_reason: str = "a neighbour frame does not exist"):
        super().__init__(height, width, frame_ids, scales, augment, seed)
        self.source = source
        self.load_depth = load_depth_gt
        self.entries = complete_triplets(source, centres, self.frame_ids)
        self.report_dropped(len(centres) - len(self.entries), drop_reason)

    def __len__(self) -> int:
        return len(self.entries)

    def load_frames(self, index: int) -> list[Image.Image]:
        centre = self.entries[index]
        return [self.source.load_image(centre.at(centre.frame + offset)) for offset in self.frame_ids]

    def intrinsics(self, index: int) -> Intrinsics:
        return self.source.intrinsics(self.entries[index])

    def load_depth_gt(self, index: int) -> np.ndarray | None:
        return self.source.gt_depth(self.entries[index]) if self.load_depth else None
