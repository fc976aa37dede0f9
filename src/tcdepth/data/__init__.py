"""Frame sources (synthetic, KITTI raw, video) and the datasets built on them, split files, the intrinsics file,
KITTI calibration and augmentation (see docs/data.md)."""

from tcdepth.data.augment import AugmentSettings
from tcdepth.data.config import DataConfig, build_dataset
from tcdepth.data.frames import FrameRef, FrameSource, FrameSourceDataset, complete_triplets
from tcdepth.data.intrinsics import Intrinsics, load_intrinsics, save_intrinsics
from tcdepth.data.kitti import kitti_intrinsics, load_velodyne_points, read_calib_file, velodyne_depth_map
from tcdepth.data.kitti_raw import KITTIRawDataset, KittiRawFrames
from tcdepth.data.splits import read_kitti_split, read_sequence_split
from tcdepth.data.synthetic import SyntheticDataset, SyntheticFrames
from tcdepth.data.video import VideoDataset, VideoFrames

__all__ = [
    "AugmentSettings",
    "DataConfig",
    "FrameRef",
    "FrameSource",
    "FrameSourceDataset",
    "Intrinsics",
    "KITTIRawDataset",
    "KittiRawFrames",
    "SyntheticDataset",
    "SyntheticFrames",
    "VideoDataset",
    "VideoFrames",
    "build_dataset",
    "complete_triplets",
    "kitti_intrinsics",
    "load_intrinsics",
    "load_velodyne_points",
    "read_calib_file",
    "read_kitti_split",
    "read_sequence_split",
    "save_intrinsics",
    "velodyne_depth_map",
]
