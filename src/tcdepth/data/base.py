"""The sample pipeline shared by every dataset: load, resize, augment, build the pyramid (docs/architecture.md).

A subclass provides, for item ``i`` of its index, the frames (``load_frames``, PIL images at any size, in the order
of ``frame_ids``), the camera (``intrinsics``) and optionally ground truth (``load_depth_gt``). This class resizes
the frames to the network size with Lanczos filtering, applies the augmentation, builds scales ``1..3`` by
antialiased downsampling and returns the sample dictionary.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from tcdepth.data.augment import NO_AUGMENTATION, AugmentSettings, draw_augmentation, jitter_frames
from tcdepth.data.intrinsics import Intrinsics
from tcdepth.geometry import check_network_size, flip_intrinsics, intrinsics_at_scale, invert_intrinsics

log = logging.getLogger(__name__)

def check_frame_ids(frame_ids: Sequence[int]) -> None:
    """Frame offsets must be distinct and start with the centre frame ``0``."""
    if not frame_ids or frame_ids[0] != 0 or len(set(frame_ids)) != len(frame_ids):
        raise ValueError(f"frame_ids must be distinct offsets starting with 0 (e.g. [0, -1, 1]), got {list(frame_ids)}")


def check_scales(scales: Sequence[int]) -> None:
    if not scales or list(scales) != sorted(set(scales)) or scales[0] != 0 or scales[-1] > 5:
        raise ValueError(f"scales must be increasing pyramid levels starting at 0 (at most 5), got {list(scales)}")


def as_rgb(image: Image.Image) -> Image.Image:
    """An 8-bit RGB copy of any PIL image: grey levels are repeated on the three channels, and 16-bit or 32-bit
    grey (``I;16``, ``I``) and float (``F``) images are scaled to 8 bits instead of clipped (which turns a 16-bit
    frame white)."""
    if image.mode.startswith("I") or image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if image.mode == "F" and values.size and np.nanmax(values) <= 1.0:
            values = values * 255.0
        else:
            values = values / 257.0  # 65535 -> 255
        grey = np.clip(np.nan_to_num(values), 0, 255).round().astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    return image.convert("RGB")


def read_rgb(path: Path) -> Image.Image:
    """An RGB PIL image (:func:`as_rgb`); an unreadable or missing file raises an error naming it."""
    try:
        with Image.open(path) as image:
            return as_rgb(image)
    except FileNotFoundError:
        raise FileNotFoundError(f"image {path} does not exist") from None
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"cannot read image {path}: {err}") from err


def to_tensor(image: Image.Image) -> torch.Tensor:
    """``[3,H,W]`` float32 in ``[0, 1]`` from an RGB PIL image."""
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).float() / 255.0


class FolderIndex:
    """Cached directory listings, so that checking many frame files for existence costs one listing per folder."""

    def __init__(self):
        self._listings: dict[Path, frozenset[str]] = {}

    def exists(self, path: Path) -> bool:
        folder = path.parent
        if folder not in self._listings:
            self._listings[folder] = frozenset(p.name for p in folder.iterdir()) if folder.is_dir() else frozenset()
        return path.name in self._listings[folder]


class FrameSequenceDataset(Dataset):
    """Base class of the datasets: turns frames + intrinsics (+ ground truth) into the sample dictionary.

    Randomness: the augmentation of item ``i`` is drawn from a generator seeded with ``(seed, epoch, i)``, so a
    sample does not depend on worker assignment and training resumes exactly after ``set_epoch(epoch)``.
    """

    def __init__(
        self,
        height: int,
        width: int,
        frame_ids: Sequence[int] = (0, -1, 1),
        scales: Sequence[int] = (0, 1, 2, 3),
        augment: AugmentSettings | None = None,
        seed: int = 0,
    ):
        check_network_size(height, width)
        check_frame_ids(frame_ids)
        check_scales(scales)
        self.height, self.width = height, width
        self.frame_ids = list(frame_ids)
        self.scales = list(scales)
        self.augment = augment or NO_AUGMENTATION
        self.seed = seed
        self.epoch = 0
        self.num_dropped = 0

    # Subclass interface -------------------------------------------------------------------------------------
    def __len__(self) -> int:
        raise NotImplementedError

    def load_frames(self, index: int) -> list[Image.Image]:
        """Frames ``centre + offset`` for each offset of ``frame_ids``, in that order."""
        raise NotImplementedError

    def intrinsics(self, index: int) -> Intrinsics:
        """The camera of item ``index`` (any reference size; it is rescaled to the network size)."""
        raise NotImplementedError

    def load_depth_gt(self, index: int) -> np.ndarray | None:
        """Ground-truth depth ``[Hg,Wg]`` in metres (0 = unknown) or None where the dataset has none."""
        return None

    # Shared pipeline --------------------------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def report_dropped(self, dropped: int, reason: str) -> None:
        self.num_dropped = dropped
        if dropped:
            log.info("%s: dropped %d sample(s): %s", type(self).__name__, dropped, reason)

    def generator_for(self, index: int) -> torch.Generator:
        mixed = (self.seed * 1_000_003 + self.epoch) * 10_000_019 + index
        return torch.Generator().manual_seed(mixed % (2**63))

    def _resize(self, image: Image.Image) -> torch.Tensor:
        if image.size != (self.width, self.height):
            image = image.resize((self.width, self.height), Image.Resampling.LANCZOS)
        return to_tensor(image)

    def _pyramid(self, frames: torch.Tensor, prefix: str, sample: dict) -> None:
        for s in self.scales:
            if s == 0:
                sample[f"{prefix}_0"] = frames
            else:
                size = (self.height >> s, self.width >> s)
                sample[f"{prefix}_{s}"] = F.interpolate(frames, size=size, mode="bilinear", align_corners=False,
                                                        antialias=True).clamp(0.0, 1.0)

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {type(self).__name__} of {len(self)} samples")
        frames = torch.stack([self._resize(image) for image in self.load_frames(index)])  # [V,3,H,W]
        decision = draw_augmentation(self.augment, len(self.frame_ids), self.generator_for(index))
        if decision.flip:
            frames = frames.flip(-1)
        sample: dict = {"index": torch.tensor(index, dtype=torch.int64)}
        self._pyramid(frames, "color", sample)
        self._pyramid(jitter_frames(frames, decision), "color_aug", sample)
        K = self.intrinsics(index).K_for(self.height, self.width)
        for s in self.scales:
            K_s = intrinsics_at_scale(K, s)
            if decision.flip:
                K_s = flip_intrinsics(K_s, self.width >> s)
            sample[f"K_{s}"] = K_s
            sample[f"inv_K_{s}"] = invert_intrinsics(K_s)
        depth = self.load_depth_gt(index)
        if depth is not None:
            depth = np.nan_to_num(np.asarray(depth, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
            depth[depth < 0] = 0.0
            if decision.flip:
                depth = depth[:, ::-1]
            sample["depth_gt"] = torch.from_numpy(depth.copy())[None]
        return sample
