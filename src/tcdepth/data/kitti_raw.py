"""``KITTIRawDataset``: KITTI raw in the Monodepth2 layout, samples listed in a KITTI split file.

Layout: ``<data_path>/<date>/<date>_drive_<nnnn>_sync/image_0{2,3}/data/<10-digit>.{png,jpg}``, velodyne scans in
``.../velodyne_points/data/<10-digit>.bin``, calibration ``<data_path>/<date>/calib_{cam_to_cam,velo_to_cam}.txt``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tcdepth.data.augment import AugmentSettings
from tcdepth.data.base import FolderIndex, FrameSequenceDataset, read_rgb
from tcdepth.data.intrinsics import Intrinsics
from tcdepth.data.kitti import CAM_TO_CAM, kitti_intrinsics, velodyne_depth_map
from tcdepth.data.splits import KittiSplitEntry, read_kitti_split
from tcdepth.geometry import normalized_to_pixel

# Monodepth2's normalised KITTI intrinsics, used when a date has no calibration file.
KITTI_NORMALIZED_K = torch.tensor([[0.58, 0.0, 0.5], [0.0, 1.92, 0.5], [0.0, 0.0, 1.0]])


def default_kitti_intrinsics(height: int, width: int) -> Intrinsics:
    """:data:`KITTI_NORMALIZED_K` in pixels of an image of ``height x width``."""
    K = normalized_to_pixel(KITTI_NORMALIZED_K, height, width)
    return Intrinsics(float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), width, height)


class KITTIRawDataset(FrameSequenceDataset):
    """KITTI raw frames of the left (``l`` -> ``image_02``) or right (``r`` -> ``image_03``) colour camera.

    Intrinsics come from the date's ``calib_cam_to_cam.txt`` (``P_rect_0{2,3}``) or, when it is missing, from the
    normalised default K. With ``load_depth_gt`` the centre frame's velodyne scan is projected into the camera at
    the original image size (``depth_gt``); a missing scan is then an error naming the file.
    """

    def __init__(
        self,
        data_path: str | Path,
        split_file: str | Path,
        height: int,
        width: int,
        frame_ids: Sequence[int] = (0, -1, 1),
        scales: Sequence[int] = (0, 1, 2, 3),
        img_ext: str = "jpg",
        augment: AugmentSettings | None = None,
        load_depth_gt: bool = False,
        seed: int = 0,
    ):
        super().__init__(height, width, frame_ids, scales, augment, seed)
        if img_ext not in ("png", "jpg"):
            raise ValueError(f"img_ext must be 'png' or 'jpg', got {img_ext!r}")
        self.data_path = Path(data_path)
        self.img_ext = img_ext
        self.load_depth = load_depth_gt
        folders = FolderIndex()
        entries = read_kitti_split(split_file)
        self.entries: list[KittiSplitEntry] = [
            e for e in entries
            if all(folders.exists(self.image_path(e, e.frame + offset)) for offset in self.frame_ids)
        ]
        self.report_dropped(len(entries) - len(self.entries),
                            f"a frame of offsets {self.frame_ids} is missing (drive boundary or frames not present "
                            f"as .{img_ext}) for lines of {split_file}")
        if load_depth_gt:
            for entry in self.entries:
                if not folders.exists(self.velodyne_path(entry)):
                    raise FileNotFoundError(f"velodyne scan {self.velodyne_path(entry)} does not exist "
                                            f"(set depth_gt to false to train without ground truth)")
        self._intrinsics: dict[tuple[str, int], Intrinsics | None] = {}

    def image_path(self, entry: KittiSplitEntry, frame: int) -> Path:
        return (self.data_path / entry.folder / f"image_0{entry.camera}" / "data"
                / f"{frame:010d}.{self.img_ext}")

    def velodyne_path(self, entry: KittiSplitEntry) -> Path:
        return self.data_path / entry.folder / "velodyne_points" / "data" / f"{entry.frame:010d}.bin"

    def calib_dir(self, entry: KittiSplitEntry) -> Path:
        return self.data_path / entry.date

    def __len__(self) -> int:
        return len(self.entries)

    def load_frames(self, index: int) -> list[Image.Image]:
        entry = self.entries[index]
        return [read_rgb(self.image_path(entry, entry.frame + offset)) for offset in self.frame_ids]

    def intrinsics(self, index: int) -> Intrinsics:
        entry = self.entries[index]
        key = (entry.date, entry.camera)
        if key not in self._intrinsics:
            calib = self.calib_dir(entry)
            self._intrinsics[key] = kitti_intrinsics(calib, entry.camera) if (calib / CAM_TO_CAM).is_file() else None
        return self._intrinsics[key] or default_kitti_intrinsics(self.height, self.width)

    def load_depth_gt(self, index: int) -> np.ndarray | None:
        if not self.load_depth:
            return None
        entry = self.entries[index]
        with Image.open(self.image_path(entry, entry.frame)) as image:
            width, height = image.size
        return velodyne_depth_map(self.calib_dir(entry), self.velodyne_path(entry), entry.camera, (height, width))
