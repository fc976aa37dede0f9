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


def correspondences(source: Frame, target: Frame, K: np.ndarray, tolerance: float = 0.03):
    """Pixel coordinates ``[H,W,2]`` float32 ``(u, v)`` in ``target`` of every pixel of ``source``, and the
    visibility ``[H,W]`` bool. Coordinates are NaN where the point is behind the target camera."""
    height, width = source.depth.shape
    rays = camera_rays(K, height, width).astype(np.float64)
    depth = source.depth.astype(np.float64)
    sky = ~np.isfinite(depth)
    points = rays * np.where(sky, 1.0, depth)[..., None]
    world = points @ source.pose[:3, :3].T + source.pose[:3, 3]
    for obj in np.unique(source.object_ids[source.object_ids >= 0]):
        motion = target.object_poses[obj] @ np.linalg.inv(source.object_poses[obj])
        sel = source.object_ids == obj
        world[sel] = world[sel] @ motion[:3, :3].T + motion[:3, 3]
    moved = (world - target.pose[:3, 3]) @ target.pose[:3, :3]
    moved[sky] = rays[sky] @ source.pose[:3, :3].T @ target.pose[:3, :3]
    z = moved[..., 2]
    ahead = z > 1e-6
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(ahead, K[0, 0] * moved[..., 0] / z + K[0, 2], np.nan)
        v = np.where(ahead, K[1, 1] * moved[..., 1] / z + K[1, 2], np.nan)
    in_view = ahead & (u >= 0) & (u <= width - 1) & (v >= 0) & (v <= height - 1)
    visible = np.zeros((height, width), bool)
    uu, vv = np.where(in_view, u, 0.0), np.where(in_view, v, 0.0)
    for col in (np.floor(uu), np.ceil(uu)):
        for row in (np.floor(vv), np.ceil(vv)):
            seen = target.depth[row.astype(np.int64), col.astype(np.int64)].astype(np.float64)
            with np.errstate(invalid="ignore"):
                same_surface = np.abs(seen - z) <= tolerance * z
            visible |= np.where(sky, ~np.isfinite(seen), same_surface)
    visible &= in_view
    return np.stack([u, v], axis=-1).astype(np.float32), visible
