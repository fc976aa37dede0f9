"""``VideoDataset``: the user's own camera, from an mp4 (decoded with PyAV) or a folder of frames.

Frames are read once, every ``stride``-th frame is kept, static frames are dropped (see
:func:`is_static`), and the remaining frames are kept in memory at the network size (uint8, ``3*H*W`` bytes each).
The intrinsics file (:mod:`tcdepth.data.intrinsics`) refers to the original frames; K follows every resize.
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
from tcdepth.data.base import FrameSequenceDataset, read_rgb
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


class VideoDataset(FrameSequenceDataset):
    """Training or inference samples from one video; no ground truth.

    Attributes after construction: ``frame_numbers`` (source frame number of each kept frame), ``num_static``
    (frames dropped by the static filter), ``num_dropped`` (centre frames without neighbours), ``frame_size``
    (original ``(height, width)``).
    """

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
        super().__init__(height, width, frame_ids, scales, augment, seed)
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        if static_threshold < 0:
            raise ValueError(f"static_threshold must be >= 0, got {static_threshold}")
        self.source = Path(source)
        self.camera = load_intrinsics(intrinsics_file)
        self.frames: list[np.ndarray] = []
        self.frame_numbers: list[int] = []
        self.num_static = 0
        self.frame_size: tuple[int, int] | None = None
        reference = None
        for number, frame in enumerate(iter_video_frames(self.source)):
            if number % stride:
                continue
            self._check_size(frame, number)
            thumbnail = motion_thumbnail(frame)
            if reference is not None and is_static(thumbnail, reference, static_threshold):
                self.num_static += 1
                continue
            reference = thumbnail
            resized = frame.resize((width, height), Image.Resampling.LANCZOS)
            self.frames.append(np.asarray(resized, dtype=np.uint8))
            self.frame_numbers.append(number)
        if self.num_static:
            log.info("VideoDataset %s: dropped %d static frame(s) (mean abs grey difference < %g), kept %d",
                     self.source, self.num_static, static_threshold, len(self.frames))
        first, last = -min(self.frame_ids), len(self.frames) - max(self.frame_ids)
        self.centres = list(range(first, max(first, last)))
        self.report_dropped(len(self.frames) - len(self.centres),
                            f"frames at the ends of {self.source} lack neighbours for offsets {self.frame_ids}")

    def _check_size(self, frame: Image.Image, number: int) -> None:
        size = (frame.height, frame.width)
        if self.frame_size is None:
            self.frame_size = size
            aspect_frames, aspect_camera = size[1] / size[0], self.camera.width / self.camera.height
            if abs(aspect_frames / aspect_camera - 1) > 0.01:
                log.warning("VideoDataset %s: frames are %dx%d but the intrinsics refer to %dx%d (another aspect "
                            "ratio); K is rescaled per axis, which is only right if the frames were resized, "
                            "not cropped", self.source, size[1], size[0], self.camera.width, self.camera.height)
        elif size != self.frame_size:
            raise ValueError(f"{self.source}: frame {number} is {size[1]}x{size[0]}, earlier frames are "
                             f"{self.frame_size[1]}x{self.frame_size[0]}")

    def __len__(self) -> int:
        return len(self.centres)

    def load_frames(self, index: int) -> list[Image.Image]:
        centre = self.centres[index]
        return [Image.fromarray(self.frames[centre + offset]) for offset in self.frame_ids]

    def intrinsics(self, index: int) -> Intrinsics:
        return self.camera
