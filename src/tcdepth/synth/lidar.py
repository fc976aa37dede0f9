"""A simulated 64-beam spinning LiDAR (HDL-64E-like) ray-cast against the same scene as the camera.

The sensor frame is KITTI's Velodyne frame: x forward, y left, z up. Beams are spread evenly between +2 and
-24.8 degrees of elevation, azimuth steps are 0.18 degrees over a full turn, range 120 m. A sweep is
instantaneous at the frame time (no motion distortion).
"""

from __future__ import annotations

import numpy as np

from tcdepth.synth.raycast import cast
from tcdepth.synth.render import MaterialTable, cull
from tcdepth.synth.scene import Scene

ELEVATIONS_DEG = np.linspace(2.0, -24.8, 64)
AZIMUTH_STEP_DEG = 0.18
MAX_RANGE = 120.0
MOUNT_HEIGHT = 1.73
GROUND_REFLECTANCE = 0.25


def beam_directions() -> np.ndarray:
    """``[64, n_azimuth, 3]`` unit beam directions in the sensor frame, azimuth from -180 (behind) upward."""
    elevation = np.radians(ELEVATIONS_DEG)[:, None]
    azimuth = np.radians(np.arange(-180.0, 180.0, AZIMUTH_STEP_DEG))[None, :]
    return np.stack(np.broadcast_arrays(np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth),
                                        np.sin(elevation)), axis=-1).astype(np.float32)


def lidar_scan(scene: Scene, frame: int, velo_to_world: np.ndarray) -> np.ndarray:
    """``[N,4]`` float32 points ``(x, y, z, reflectance)`` in the sensor frame for the sweep at ``frame``."""
    origin = velo_to_world[:3, 3]
    prims = cull(scene.world_primitives(frame), origin)
    beams = beam_directions()
    n_az = beams.shape[1]
    local = (prims.corners() - origin) @ velo_to_world[:3, :3]
    azimuth = np.degrees(np.arctan2(local[..., 1], local[..., 0]))
    low, high = azimuth.min(axis=1), azimuth.max(axis=1)
    wraps = (high - low) > 180.0
    c0 = np.where(wraps, 0, np.floor((low + 180.0) / AZIMUTH_STEP_DEG) - 1).clip(0, n_az)
    c1 = np.where(wraps, n_az, np.ceil((high + 180.0) / AZIMUTH_STEP_DEG) + 2).clip(0, n_az)
    windows = np.stack([np.zeros_like(c0), np.full_like(c0, beams.shape[0]), c0, c1], axis=1).astype(np.int64)
    nearest = np.maximum(np.linalg.norm(prims.center - origin, axis=1) - np.linalg.norm(prims.size, axis=1), 0.0)
    world_dirs = beams @ velo_to_world[:3, :3].T.astype(np.float32)
    distance, ids = cast(prims, windows, nearest, origin, world_dirs, MAX_RANGE)
    hit = np.isfinite(distance) & (distance <= MAX_RANGE)
    tint = MaterialTable.of(scene.materials).tint.mean(axis=1)
    reflectance = np.concatenate([[GROUND_REFLECTANCE], tint[prims.material]])[ids[hit]]
    points = beams[hit] * distance[hit, None]
    return np.concatenate([points, reflectance[:, None]], axis=1).astype(np.float32)
