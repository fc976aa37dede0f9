"""KITTI raw in the Monodepth2 layout: its frame source and its training dataset.

Layout: ``<data_path>/<date>/<date>_drive_<nnnn>_sync/image_0{2,3}/data/<10-digit>.{png,jpg}``, velodyne scans in
``.../velodyne_points/data/<10-digit>.bin``, calibration ``<data_path>/<date>/calib_{cam_to_cam,velo_to_cam}.txt``.
Split files list ``<date>/<drive> <frame> <l|r>`` (``l`` -> camera 2, ``r`` -> camera 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from tcdepth.data.augment import AugmentSettings
from tcdepth.data.base import FolderIndex, read_rgb
from tcdepth.data.frames import FrameRef, FrameSourceDataset
from tcdepth.data.intrinsics import Intrinsics
from tcdepth.data.kitti import (
    CAM_TO_CAM,
    ODOMETRY_SEQUENCES,
    camera2_transform,
    kitti_intrinsics,
    read_odometry_poses,
    velodyne_depth_map,
)
from tcdepth.data.splits import read_kitti_split
from tcdepth.geometry import KITTI_NORMALIZED_K, normalized_to_pixel

IMAGE_EXTENSIONS = ("png", "jpg")


def default_kitti_intrinsics(height: int, width: int) -> Intrinsics:
    """:data:`~tcdepth.geometry.KITTI_NORMALIZED_K` in pixels of an image of ``height x width`` (used when a date has
    no calibration file)."""
    K = normalized_to_pixel(KITTI_NORMALIZED_K, height, width)
    return Intrinsics(float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), width, height)


class KittiRawFrames:
    """:class:`~tcdepth.data.frames.FrameSource` of KITTI raw.

    Args:
        data_path: the KITTI raw root.
        img_ext: ``"png"`` or ``"jpg"``; None takes a frame's ``.png`` when it exists, else its ``.jpg``.
        poses_dir: optional camera-0-to-world poses per drive (``<drive>.txt`` as ``tcdepth synth --layout kitti``
            writes, or the odometry ``<seq>.txt`` of :data:`~tcdepth.data.kitti.ODOMETRY_SEQUENCES`), for
            :meth:`gt_motion`.
    Intrinsics come from the date's ``calib_cam_to_cam.txt`` (``P_rect_0{2,3}``), else the normalised default K;
    ground truth is the velodyne scan projected into the camera at the image size.
    """

    def __init__(self, data_path: str | Path, img_ext: str | None = None, poses_dir: str | Path | None = None):
        if img_ext is not None and img_ext not in IMAGE_EXTENSIONS:
            raise ValueError(f"img_ext must be 'png' or 'jpg', got {img_ext!r}")
        self.data_path = Path(data_path)
        if not self.data_path.is_dir():
            raise FileNotFoundError(f"KITTI data path {self.data_path} does not exist")
        self.img_ext = img_ext
        self.poses_dir = Path(poses_dir) if poses_dir is not None else None
        self._folders = FolderIndex()
        self._intrinsics: dict[tuple[str, int], Intrinsics] = {}
        self._poses: dict[str, np.ndarray | None] = {}

    def read_split(self, path: str | Path) -> list[FrameRef]:
        return [FrameRef(e.folder, e.frame, e.camera) for e in read_kitti_split(path)]

    def image_path(self, ref: FrameRef) -> Path:
        stem = self.data_path / ref.sequence / f"image_0{ref.camera}" / "data" / f"{ref.frame:010d}"
        if self.img_ext is not None:
            return stem.with_suffix(f".{self.img_ext}")
        png = stem.with_suffix(".png")
        jpg = stem.with_suffix(".jpg")
        return jpg if not self._folders.exists(png) and self._folders.exists(jpg) else png

    def velodyne_path(self, ref: FrameRef) -> Path:
        return self.data_path / ref.sequence / "velodyne_points" / "data" / f"{ref.frame:010d}.bin"

    def calib_dir(self, ref: FrameRef) -> Path:
        return self.data_path / ref.sequence.split("/")[0]

    def exists(self, ref: FrameRef) -> bool:
        return ref.frame >= 0 and self._folders.exists(self.image_path(ref))

    def has_scan(self, ref: FrameRef) -> bool:
        return self._folders.exists(self.velodyne_path(ref))

    def load_image(self, ref: FrameRef) -> Image.Image:
        return read_rgb(self.image_path(ref))

    def _image_size(self, ref: FrameRef) -> tuple[int, int]:
        with Image.open(self.image_path(ref)) as image:
            width, height = image.size
        return height, width

    def intrinsics(self, ref: FrameRef) -> Intrinsics:
        key = (ref.sequence.split("/")[0], ref.camera)
        if key not in self._intrinsics:
            calib = self.calib_dir(ref)
            if (calib / CAM_TO_CAM).is_file():
                self._intrinsics[key] = kitti_intrinsics(calib, ref.camera)
            else:
                self._intrinsics[key] = default_kitti_intrinsics(*self._image_size(ref))
        return self._intrinsics[key]

    def gt_depth(self, ref: FrameRef) -> np.ndarray:
        """The velodyne scan projected into the camera at the image size (as ``tcdepth export-gt --split eigen``)."""
        return velodyne_depth_map(self.calib_dir(ref), self.velodyne_path(ref), ref.camera, self._image_size(ref))

    def _drive_poses(self, sequence: str) -> np.ndarray | None:
        if sequence not in self._poses:
            self._poses[sequence] = None
            if self.poses_dir is not None:
                names = [f"{sequence.split('/')[1].removesuffix('_sync')}.txt"]
                if sequence in ODOMETRY_SEQUENCES:
                    names.append(f"{ODOMETRY_SEQUENCES[sequence]}.txt")
                for name in names:
                    if (self.poses_dir / name).is_file():
                        self._poses[sequence] = read_odometry_poses(self.poses_dir / name)
                        break
        return self._poses[sequence]

    def gt_motion(self, ref: FrameRef, source: FrameRef) -> np.ndarray | None:
        """``T_{ref->source}`` of camera 2 from the drive's camera-0 poses, or None without a pose file."""
        poses = self._drive_poses(ref.sequence)
        if poses is None or ref.camera != 2 or max(ref.frame, source.frame) >= len(poses):
            return None
        return camera2_transform(np.linalg.inv(poses[source.frame]) @ poses[ref.frame], self.calib_dir(ref))


class KITTIRawDataset(FrameSourceDataset):
    """KITTI raw samples of the centre frames of a split file, images of extension ``img_ext``.

    With ``load_depth_gt`` the centre frame's velodyne scan is projected into the camera at the original image size
    (``depth_gt``); a missing scan is then an error naming the file.
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
        source = KittiRawFrames(data_path, img_ext)
        super().__init__(source, source.read_split(split_file), height, width, frame_ids, scales, augment,
                         load_depth_gt, seed,
                         f"a frame of offsets {list(frame_ids)} is missing (drive boundary or frames not present "
                         f"as .{img_ext}) for lines of {split_file}")
        if load_depth_gt:
            for entry in self.entries:
                if not source.has_scan(entry):
                    raise FileNotFoundError(f"velodyne scan {source.velodyne_path(entry)} does not exist "
                                            f"(set depth_gt to false to train without ground truth)")
