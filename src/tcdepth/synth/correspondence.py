"""Exact ground-truth correspondences between frames of a rendered sequence.

For each pixel of frame t the scene point it sees is moved to the time of frame s (static points stay, points of
a moving car follow the car's pose) and projected with frame s's camera. Sky pixels are points at infinity: they
move by the camera rotation only. A correspondence is visible when it lands inside frame s and the surface there
is the same: one of the 4 pixels around the projection has a depth within ``tolerance`` (relative) of the moved
point's depth, or, for sky, one of them sees sky too.
"""

from __future__ import annotations

import numpy as np

from tcdepth.synth.render import Frame, camera_rays


class Reprojection:
    """The world points seen by the pixels of ``source`` (computed once), projected into any other frame.

    ``rays`` ``[H,W,3]`` are the camera rays of ``K`` (``camera_rays``; computed when not given).
    """

    def __init__(self, source: Frame, K: np.ndarray, rays: np.ndarray | None = None):
        height, width = source.depth.shape
        rays = camera_rays(K, height, width) if rays is None else rays
        rays = rays.astype(np.float64)
        self.source, self.K = source, K
        self.sky = ~np.isfinite(source.depth)
        points = rays * np.where(self.sky, 1.0, source.depth.astype(np.float64))[..., None]
        self.world = points @ source.pose[:3, :3].T + source.pose[:3, 3]
        self.sky_dirs = rays[self.sky] @ source.pose[:3, :3].T
        ids = source.object_ids.ravel()
        self.objects = [(obj, np.flatnonzero(ids == obj)) for obj in np.unique(ids[ids >= 0])]

    def correspondences(self, target: Frame, tolerance: float = 0.03):
        """Pixel coordinates ``[H,W,2]`` float32 ``(u, v)`` in ``target`` of every pixel of the source, and the
        visibility ``[H,W]`` bool. Coordinates are NaN where the point is behind the target camera."""
        source, K, sky = self.source, self.K, self.sky
        height, width = sky.shape
        world = self.world
        if self.objects:
            world = world.copy()
        points = world.reshape(-1, 3)
        for obj, pixels in self.objects:
            motion = target.object_poses[obj] @ np.linalg.inv(source.object_poses[obj])
            points[pixels] = np.take(points, pixels, axis=0) @ motion[:3, :3].T + motion[:3, 3]
        moved = (world - target.pose[:3, 3]) @ target.pose[:3, :3]
        moved[sky] = self.sky_dirs @ target.pose[:3, :3]
        z = moved[..., 2]
        ahead = z > 1e-6
        with np.errstate(divide="ignore", invalid="ignore"):
            u = K[0, 0] * moved[..., 0] / z + K[0, 2]
            v = K[1, 1] * moved[..., 1] / z + K[1, 2]
        in_view = ahead & (u >= 0) & (u <= width - 1) & (v >= 0) & (v <= height - 1)
        coords = np.stack([u, v], axis=-1).astype(np.float32)
        coords[~ahead] = np.nan
        return coords, self._visible(target.depth, z, np.where(in_view, u, 0.0), np.where(in_view, v, 0.0),
                                     tolerance) & in_view

    def _visible(self, target_depth: np.ndarray, z: np.ndarray, u: np.ndarray, v: np.ndarray, tolerance: float):
        """bool ``[H,W]``: one of the 4 pixels of ``target_depth`` around ``(u, v)`` (in view) sees the same
        surface (depth within ``tolerance * z``), or sky for a sky pixel."""
        width = target_depth.shape[1]
        col = np.floor(u).astype(np.int32)
        row = np.floor(v).astype(np.int32)
        next_col, next_row = col + (u > col), (row + (v > row)) * width
        row *= width
        margin = tolerance * z
        near, sky_seen = np.zeros(z.shape, bool), np.zeros(z.shape, bool)
        gap = np.empty(z.shape)
        for c in (col, next_col):
            for r in (row, next_row):
                seen = np.take(target_depth, r + c)
                np.subtract(seen, z, out=gap)
                near |= np.abs(gap, out=gap) <= margin
                sky_seen |= np.isinf(seen)
        return np.where(self.sky, sky_seen, near)


def correspondences(source: Frame, target: Frame, K: np.ndarray, tolerance: float = 0.03):
    """Pixel coordinates ``[H,W,2]`` float32 ``(u, v)`` in ``target`` of every pixel of ``source``, and the
    visibility ``[H,W]`` bool. Coordinates are NaN where the point is behind the target camera."""
    return Reprojection(source, K).correspondences(target, tolerance)
