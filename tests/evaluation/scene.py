"""An analytic scene for TCM tests: a tilted plane seen by a moving pinhole camera (numpy only)."""

from __future__ import annotations

import numpy as np

HEIGHT, WIDTH = 30, 48
K = np.array([[40.0, 0.0, 23.5], [0.0, 40.0, 14.5], [0.0, 0.0, 1.0]])
PLANE_NORMAL = np.array([0.1, -0.3, 1.0]) / np.linalg.norm([0.1, -0.3, 1.0])  # world plane n . X = d
PLANE_OFFSET = 20.0


def rotation_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def camera_to_world(frame: int) -> np.ndarray:
    """Camera moving forward and sideways while yawing slightly."""
    pose = np.eye(4)
    pose[:3, :3] = rotation_y(0.01 * frame)
    pose[:3, 3] = [0.15 * frame, 0.02 * frame, 0.5 * frame]
    return pose


def rays() -> np.ndarray:
    v, u = np.meshgrid(np.arange(HEIGHT, dtype=float), np.arange(WIDTH, dtype=float), indexing="ij")
    return np.linalg.inv(K) @ np.stack([u, v, np.ones_like(u)]).reshape(3, -1)


def depth(frame: int) -> np.ndarray:
    """Depth ``[H,W]`` of the plane in the camera of ``frame``: ``z = d_c / (n_c . K^-1 p)``."""
    pose = camera_to_world(frame)
    normal_cam = pose[:3, :3].T @ PLANE_NORMAL
    offset_cam = PLANE_OFFSET - PLANE_NORMAL @ pose[:3, 3]
    return (offset_cam / (normal_cam @ rays())).reshape(HEIGHT, WIDTH)


def target_to_source(target: int, source: int) -> np.ndarray:
    return np.linalg.inv(camera_to_world(source)) @ camera_to_world(target)


def correspondences(target: int, source: int) -> np.ndarray:
    """Pixel ``(u, v)`` in ``source`` of each pixel of ``target``, ``[H,W,2]``."""
    points = rays() * depth(target).reshape(1, -1)
    T = target_to_source(target, source)
    cam = K @ (T[:3, :3] @ points + T[:3, 3:4])
    return (cam[:2] / cam[2:]).T.reshape(HEIGHT, WIDTH, 2)
