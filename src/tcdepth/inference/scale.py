"""Metric scale from a known camera height: fit the ground plane to the lower image part and compare its distance
from the camera with the given height."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GroundPlane:
    """Plane ``normal . X = distance`` in camera coordinates (unit normal pointing down, +y), and the fraction of
    the candidate points within the inlier tolerance."""

    normal: np.ndarray
    distance: float
    inlier_fraction: float


def fit_ground_plane(points: np.ndarray, iterations: int = 200, tolerance: float = 0.02, max_tilt_deg: float = 30.0,
                     seed: int = 0) -> GroundPlane:
    """RANSAC plane among ``points [N,3]`` (camera frame, y down) whose normal is within ``max_tilt_deg`` of the
    camera's vertical axis, refined by least squares (SVD) on its inliers.

    ``tolerance`` is the inlier distance relative to the median point distance. Raises ValueError when no such
    plane is supported by at least 3 points.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) < 3:
        raise ValueError(f"ground plane: need at least 3 points, got {len(points)}")
    rng = np.random.default_rng(seed)
    threshold = tolerance * float(np.median(np.linalg.norm(points, axis=1)))
    min_vertical = math.cos(math.radians(max_tilt_deg))
    best = None
    for _ in range(iterations):
        a, b, c = points[rng.choice(len(points), 3, replace=False)]
        normal = np.cross(b - a, c - a)
        norm = np.linalg.norm(normal)
        if norm == 0 or abs(normal[1]) / norm < min_vertical:
            continue
        normal /= norm
        inliers = np.abs(points @ normal - normal @ a) < threshold
        if best is None or inliers.sum() > best.sum():
            best = inliers
    if best is None or best.sum() < 3:
        raise ValueError("ground plane: no near-horizontal plane found in the lower image part")
    inlier_points = points[best]
    centroid = inlier_points.mean(axis=0)
    normal = np.linalg.svd(inlier_points - centroid, full_matrices=False)[2][-1]
    normal = normal if normal[1] > 0 else -normal
    return GroundPlane(normal, float(normal @ centroid), float(best.mean()))


def ground_points(depth: np.ndarray, K: np.ndarray, lower_fraction: float = 0.3, max_points: int = 4000,
                  seed: int = 0) -> np.ndarray:
    """Back-projected points ``[N,3]`` of the lowest ``lower_fraction`` of the rows of ``depth [H,W]`` (at most
    ``max_points``, chosen at random)."""
    height, width = depth.shape
    first_row = int(round(height * (1.0 - lower_fraction)))
    v, u = np.mgrid[first_row:height, 0:width]
    z = depth[first_row:]
    keep = np.isfinite(z) & (z > 0)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    points = np.stack([(u[keep] - cx) / fx * z[keep], (v[keep] - cy) / fy * z[keep], z[keep]], axis=1)
    if len(points) > max_points:
        points = points[np.random.default_rng(seed).choice(len(points), max_points, replace=False)]
    return points


def scale_from_camera_height(depth: np.ndarray, K: np.ndarray, camera_height: float,
                             lower_fraction: float = 0.3) -> float:
    """Factor that makes the camera's distance to the ground plane seen in ``depth [H,W]`` equal
    ``camera_height``."""
    if camera_height <= 0:
        raise ValueError(f"camera height must be positive, got {camera_height}")
    plane = fit_ground_plane(ground_points(depth, np.asarray(K, dtype=np.float64), lower_fraction))
    if plane.distance <= 0:
        raise ValueError("ground plane: the fitted plane is not below the camera")
    return camera_height / plane.distance
