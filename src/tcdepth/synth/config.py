"""Settings of the synthetic driving-video renderer."""

from __future__ import annotations

from dataclasses import dataclass

from tcdepth.data.intrinsics import Intrinsics


@dataclass
class SynthConfig:
    """What ``tcdepth synth`` renders; every sequence is a pure function of these settings and its seed.

    The camera is KITTI-like: ``horizontal_fov_deg`` 81.5 gives ``fx = 0.58 W`` (KITTI's normalised focal length).
    ``flow_range`` is K: correspondences are written to frames ``t-K..t+K``; 0 writes none (a training set needs
    none, only the TCM evaluation reads them).
    """

    width: int = 640
    height: int = 192
    frames: int = 60
    fps: float = 10.0
    horizontal_fov_deg: float = 81.5
    camera_height: float = 1.6
    flow_range: int = 3
    moving_cars: int = 3
    max_speed: float = 14.0
    static_frames: int = 6
    exposure_jitter: float = 0.04
    visibility_tolerance: float = 0.03

    def __post_init__(self):
        if self.width < 8 or self.height < 8:
            raise ValueError(f"SynthConfig: image size must be at least 8x8, got {self.width}x{self.height}")
        if self.frames < 3:
            raise ValueError(f"SynthConfig.frames: need at least 3 frames per sequence, got {self.frames}")
        if self.flow_range < 0:
            raise ValueError(f"SynthConfig.flow_range: expected K >= 0, got {self.flow_range}")
        if not 10.0 < self.horizontal_fov_deg < 170.0:
            raise ValueError(f"SynthConfig.horizontal_fov_deg: expected 10..170, got {self.horizontal_fov_deg}")

    def intrinsics(self) -> Intrinsics:
        """Square-pixel pinhole intrinsics of the rendered images, principal point at the image centre."""
        return Intrinsics.from_fov(self.width, self.height, self.horizontal_fov_deg)
