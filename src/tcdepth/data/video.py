"""The user's own camera, from an mp4 (decoded with PyAV) or a folder of frames: its frame source and its training
dataset.

Frames are read once, every ``stride``-th frame is kept, static frames are dropped (see :func:`is_static`), and the
remaining frames are kept in memory. The intrinsics file (:mod:`tcdepth.data.intrinsics`) refers to the original
frames; K follows every resize.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from tcdepth.data.augment import AugmentSettings
from tcdepth.data.base import read_rgb
from tcdepth.data.frames import FrameRef, FrameSourceDataset
from tcdepth.data.intrinsics import Intrinsics, load_intrinsics

log = logging.getLogger(__name__)

FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg")
MOTION_THUMBNAIL_WIDTH = 64
DEFAULT_STATIC_THRESHOLD = 0.01


def motion_thumbnail(frame: Image.Image) -> torch.Tensor:
    """Grayscale ``[1,1,h,64]`` in ``[0, 1]`` (area-averaged) used to detect camera motion."""
    width, height = frame.size
    size = (max(1, round(height * MOTION_THUMBNAIL_WIDTH / width)), MOTION_THUMBNAIL_WIDTH)
    grey = torch.from_numpy(np.asarray(frame.convert("L"), dtype=np.float32) / 255.0)[None, None]
    return F.interpolate(grey, size=size, mode="area")


def is_static(thumbnail: torch.Tensor, reference: torch.Tensor, threshold: float) -> bool:
    """A frame is static when the mean absolute grey difference to the last kept frame is below ``threshold``.

    Comparing with the last *kept* frame (not the previous one) means slow motion accumulates until it passes the
    threshold, so a slowly moving camera is subsampled instead of being dropped entirely.
    """
    return float((thumbnail - reference).abs().mean()) < threshold


def iter_video_frames(source: Path) -> Iterator[Image.Image]:
    """RGB frames of an mp4 (any container PyAV reads) or of a folder of png/jpg files in name order."""
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in FRAME_EXTENSIONS)
        if not files:
            raise ValueError(f"frame folder {source} holds no {'/'.join(FRAME_EXTENSIONS)} files")
        for path in files:
            yield read_rgb(path)
        return
    if not source.is_file():
        raise FileNotFoundError(f"video {source} does not exist")
    import av

    try:
        with av.open(str(source)) as container:
            if not container.streams.video:
                raise ValueError(f"video {source} has no video stream")
            for frame in container.decode(video=0):
                yield frame.to_image().convert("RGB")
    except av.error.FFmpegError as err:
        raise ValueError(f"cannot decode video {source}: {err}") from err


class VideoFrames:
    """:class:`~tcdepth.data.frames.FrameSource` of one video: every ``stride``-th frame that is not static, held
    in memory (resized to ``size = (height, width)`` when given, uint8, ``3*H*W`` bytes each), as frames
    ``0..n-1`` of the sequence named after the file. A video has no ground truth and no split files.

    Attributes: ``frame_numbers`` (source frame number of each kept frame), ``num_static`` (frames dropped by the
    static filter), ``frame_size`` (original ``(height, width)``), ``camera`` (the intrinsics file).
    """

    def __init__(self, source: str | Path, intrinsics_file: str | Path, stride: int = 1,
                 static_threshold: float = DEFAULT_STATIC_THRESHOLD, size: tuple[int, int] | None = None):
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        if static_threshold < 0:
            raise ValueError(f"static_threshold must be >= 0, got {static_threshold}")
        self.path = Path(source)
        self.name = self.path.name
        self.camera = load_intrinsics(intrinsics_file)
        self.frames: list[np.ndarray] = []
        self.frame_numbers: list[int] = []
        self.num_static = 0
        self.frame_size: tuple[int, int] | None = None
        reference = None
        for number, frame in enumerate(iter_video_frames(self.path)):
            if number % stride:
                continue
            self._check_size(frame, number)
            thumbnail = motion_thumbnail(frame)
            if reference is not None and is_static(thumbnail, reference, static_threshold):
                self.num_static += 1
                continue
            reference = thumbnail
            if size is not None:
                frame = frame.resize((size[1], size[0]), Image.Resampling.LANCZOS)
            self.frames.append(np.asarray(frame, dtype=np.uint8))
            self.frame_numbers.append(number)
        if self.num_static:
            log.info("video %s: dropped %d static frame(s) (mean abs grey difference < %g), kept %d",
                     self.path, self.num_static, static_threshold, len(self.frames))

    def _check_size(self, frame: Image.Image, number: int) -> None:
        size = (frame.height, frame.width)
        if self.frame_size is None:
            self.frame_size = size
            self.camera.check_frames(*size, source=f"intrinsics of video {self.path}")
        elif size != self.frame_size:
            raise ValueError(f"{self.path}: frame {number} is {size[1]}x{size[0]}, earlier frames are "
                             f"{self.frame_size[1]}x{self.frame_size[0]}")

    def refs(self) -> list[FrameRef]:
        """Every kept frame, in order."""
        return [FrameRef(self.name, index) for index in range(len(self.frames))]

    def read_split(self, path: str | Path) -> list[FrameRef]:
        raise ValueError(f"video {self.path} has no split files; its frames are refs()")

    def exists(self, ref: FrameRef) -> bool:
        return ref.sequence == self.name and 0 <= ref.frame < len(self.frames)

    def load_image(self, ref: FrameRef) -> Image.Image:
        if not self.exists(ref):
            raise FileNotFoundError(f"video {self.path} has no frame {ref.frame} (it keeps {len(self.frames)})")
        return Image.fromarray(self.frames[ref.frame])

    def intrinsics(self, ref: FrameRef) -> Intrinsics:
        return self.camera

    def gt_depth(self, ref: FrameRef) -> np.ndarray:
        raise FileNotFoundError(f"video {self.path} has no ground-truth depth")

    def gt_motion(self, ref: FrameRef, source: FrameRef) -> np.ndarray | None:
        return None


class VideoDataset(FrameSourceDataset):
    """Training samples from one video (:class:`VideoFrames` at the network size); no ground truth."""

    def __init__(
        self,
        source: str | Path,
        intrinsics_file: str | Path,
        height: int,
        width: int,
        frame_ids: Sequence[int] = (0, -1, 1),
        scales: Sequence[int] = (0, 1, 2, 3),
        stride: int = 1,
        static_threshold: float = DEFAULT_STATIC_THRESHOLD,
        augment: AugmentSettings | None = None,
        seed: int = 0,
    ):
        frames = VideoFrames(source, intrinsics_file, stride, static_threshold, (height, width))
        super().__init__(frames, frames.refs(), height, width, frame_ids, scales, augment, False, seed,
                         f"frames at the ends of {frames.path} lack neighbours for offsets {list(frame_ids)}")

    @property
    def frame_numbers(self) -> list[int]:
        return self.source.frame_numbers

    @property
    def num_static(self) -> int:
        return self.source.num_static

    @property
    def frame_size(self) -> tuple[int, int] | None:
        return self.source.frame_size
