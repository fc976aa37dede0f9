"""Procedural driving-scene renderer with exact ground truth (depth, poses, motion masks, correspondences,
LiDAR) written in the native layout or as KITTI raw drives. See docs/synthetic_data.md."""

from tcdepth.synth.config import SynthConfig
from tcdepth.synth.correspondence import correspondences
from tcdepth.synth.lidar import lidar_scan
from tcdepth.synth.render import Frame, Renderer, render_sequence
from tcdepth.synth.scene import Scene, build_scene
from tcdepth.synth.writers import kitti_calibration, sequence_seed, write_dataset, write_sequence

__all__ = [
    "Frame",
    "Renderer",
    "Scene",
    "SynthConfig",
    "build_scene",
    "correspondences",
    "kitti_calibration",
    "lidar_scan",
    "render_sequence",
    "sequence_seed",
    "write_dataset",
    "write_sequence",
]
