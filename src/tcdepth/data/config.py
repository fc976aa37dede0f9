"""``DataConfig`` (the ``data:`` section of a training config) and the :func:`build_dataset` factory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tcdepth.data.augment import AugmentSettings
from tcdepth.data.base import FrameSequenceDataset, check_frame_ids, check_scales
from tcdepth.data.synthetic import SyntheticLayout
from tcdepth.data.video import DEFAULT_STATIC_THRESHOLD
from tcdepth.geometry import check_network_size


@dataclass
class DataConfig:
    """Which data, at which size, and how it is augmented.

    ``split_dir`` holds ``<split>_files.txt`` (default ``<path>/splits`` for synthetic data; for KITTI e.g. the
    ``eigen_zhou`` folder of the split files); ``split_files`` maps a split name to an explicit file and wins.
    A video dataset (``path`` = mp4 or frame folder, ``intrinsics_file`` required) has no splits: every split name
    gives the whole video.
    """

    dataset: Literal["synthetic", "kitti", "video"] = "synthetic"
    path: str = ""
    split_dir: str | None = None
    split_files: dict[str, str] = field(default_factory=dict)
    height: int = 192
    width: int = 640
    frame_ids: list[int] = field(default_factory=lambda: [0, -1, 1])
    scales: list[int] = field(default_factory=lambda: [0, 1, 2, 3])
    img_ext: Literal["png", "jpg"] = "jpg"
    depth_gt: bool = True
    flip_prob: float = 0.5
    jitter_prob: float = 0.5
    per_frame_jitter: bool = False
    intrinsics_file: str | None = None
    stride: int = 1
    static_threshold: float = DEFAULT_STATIC_THRESHOLD
    num_workers: int = 4
    seed: int = 0

    def __post_init__(self):
        def check(name: str, fn, *args):
            try:
                fn(*args)
            except ValueError as err:
                raise ValueError(f"{name}: {err}") from None

        if self.dataset not in ("synthetic", "kitti", "video"):
            raise ValueError(f"dataset: expected 'synthetic', 'kitti' or 'video', got {self.dataset!r}")
        check("height/width", check_network_size, self.height, self.width)
        check("frame_ids", check_frame_ids, self.frame_ids)
        check("scales", check_scales, self.scales)
        if self.img_ext not in ("png", "jpg"):
            raise ValueError(f"img_ext: expected 'png' or 'jpg', got {self.img_ext!r}")
        check("augmentation", self.augment_settings)
        if self.stride < 1:
            raise ValueError(f"stride: must be >= 1, got {self.stride}")
        if self.static_threshold < 0:
            raise ValueError(f"static_threshold: must be >= 0, got {self.static_threshold}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers: must be >= 0, got {self.num_workers}")
        if self.dataset == "video" and not self.intrinsics_file:
            raise ValueError("intrinsics_file: required for a video dataset (fx, fy, cx, cy, width, height)")
        if self.dataset == "kitti" and self.split_dir is None and not self.split_files:
            raise ValueError("split_dir: required for KITTI (a folder with <split>_files.txt, e.g. eigen_zhou)")

    def augment_settings(self) -> AugmentSettings:
        return AugmentSettings(flip_prob=self.flip_prob, jitter_prob=self.jitter_prob,
                               per_frame_jitter=self.per_frame_jitter)

    def split_file(self, split: str) -> Path:
        """The split file of ``split`` (``train``, ``val``, ``test``, ...)."""
        if split in self.split_files:
            return Path(self.split_files[split])
        if self.split_dir is not None:
            return Path(self.split_dir) / f"{split}_files.txt"
        return SyntheticLayout(self.path).split(split)


def build_dataset(cfg: DataConfig, split: str, augment: bool) -> FrameSequenceDataset:
    """The dataset of ``cfg`` for ``split``; ``augment`` switches flip and colour jitter on (training)."""
    if not cfg.path:
        raise ValueError("data.path: the dataset location is required (data root, KITTI data_path, or video)")
    settings = cfg.augment_settings() if augment else None
    common = dict(height=cfg.height, width=cfg.width, frame_ids=cfg.frame_ids, scales=cfg.scales,
                  augment=settings, seed=cfg.seed)
    if cfg.dataset == "synthetic":
        from tcdepth.data.synthetic import SyntheticDataset

        return SyntheticDataset(cfg.path, cfg.split_file(split), load_depth_gt=cfg.depth_gt, **common)
    if cfg.dataset == "kitti":
        from tcdepth.data.kitti_raw import KITTIRawDataset

        return KITTIRawDataset(cfg.path, cfg.split_file(split), img_ext=cfg.img_ext, load_depth_gt=cfg.depth_gt,
                               **common)
    from tcdepth.data.video import VideoDataset

    return VideoDataset(cfg.path, cfg.intrinsics_file, stride=cfg.stride, static_threshold=cfg.static_threshold,
                        **common)
