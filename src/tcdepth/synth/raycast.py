"""Vectorised ray casting of the ground plane and analytic primitives into a z-buffer.

Rays form a 2D grid (image rows x columns, or LiDAR beams x azimuths). Each primitive is intersected only with
the rays of its window: the bounding rectangle of its bounding box in grid coordinates, computed by the caller.
"""

from __future__ import annotations

import numpy as np

from tcdepth.synth.scene import BOX, CYLINDER, SPHERE, Primitives

EPS = 1e-4


def _hit_box(origin, dirs, center, yaw, half):
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], np.float32)
    o = (origin - center) @ rot
    d = dirs @ rot
    near = np.full(d.shape[0], -np.inf, np.float32)
    far = np.full(d.shape[0], np.inf, np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        for axis in range(3):
            inv = 1.0 / d[:, axis]
            t1 = (-half[axis] - o[axis]) * inv
            t2 = (half[axis] - o[axis]) * inv
            np.maximum(near, np.minimum(t1, t2), out=near)
            np.minimum(far, np.maximum(t1, t2), out=far)
    return np.where((far >= near) & (near > EPS), near, np.inf)


def _hit_cylinder(origin, dirs, center, radius, half_height):
    ox, oz = origin[0] - center[0], origin[2] - center[2]
    dx, dz = dirs[:, 0], dirs[:, 2]
    a = dx * dx + dz * dz
    b = ox * dx + oz * dz
    c = ox * ox + oz * oz - radius * radius
    disc = b * b - a * c
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (-b - np.sqrt(disc)) / a
    y = origin[1] + t * dirs[:, 1] - center[1]
    return np.where((disc > 0) & (t > EPS) & (np.abs(y) <= half_height), t, np.inf)


def _hit_sphere(origin, dirs, center, radius):
    o = origin - center
    a = np.einsum("ij,ij->i", dirs, dirs)
    b = dirs @ o
    c = o @ o - radius * radius
    disc = b * b - a * c
    with np.errstate(invalid="ignore"):
        t = (-b - np.sqrt(disc)) / a
    return np.where((disc > 0) & (t > EPS), t, np.inf)


def hit_distance(prims: Primitives, i: int, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Ray parameter ``t`` ``[n]`` of the first hit of primitive ``i`` along ``origin + t * dirs`` (inf: none)."""
    kind = prims.kind[i]
    center = prims.center[i].astype(np.float32)
    if kind == BOX:
        return _hit_box(origin, dirs, center, prims.yaw[i], prims.size[i].astype(np.float32))
    if kind == CYLINDER:
        return _hit_cylinder(origin, dirs, center, prims.size[i, 0], prims.size[i, 1])
    if kind == SPHERE:
        return _hit_sphere(origin, dirs, center, prims.size[i, 0])
    raise ValueError(f"unknown primitive kind {kind}")


def cast(prims: Primitives, windows: np.ndarray, nearest: np.ndarray, origin: np.ndarray, dirs: np.ndarray,
         max_distance: float):
    """Nearest hits of the ground plane ``y = 0`` and ``prims`` for the ray grid ``dirs`` ``[R,C,3]`` (world).

    ``windows`` ``[N,4]`` holds ``(r0, r1, c0, c1)`` per primitive (empty when ``r0 >= r1``), ``nearest`` ``[N]``
    a lower bound of ``t`` over each primitive: primitives are cast front to back and only rays whose current hit
    lies beyond that bound are tested. Returns ``t`` ``[R,C]`` float32 (inf where nothing is hit within
    ``max_distance``) and ``ids`` ``[R,C]`` int32: -1 nothing, 0 ground, ``i + 1`` primitive ``i``.
    """
    origin = origin.astype(np.float32)
    dirs = dirs.astype(np.float32, copy=False)
    with np.errstate(divide="ignore"):
        t_ground = np.where(dirs[..., 1] > 1e-7, -origin[1] / dirs[..., 1], np.inf).astype(np.float32)
    t_ground[t_ground > max_distance] = np.inf
    ids = np.where(np.isfinite(t_ground), 0, -1).astype(np.int32)
    depth = t_ground
    candidates = np.flatnonzero((windows[:, 0] < windows[:, 1]) & (windows[:, 2] < windows[:, 3]))
    for i in candidates[np.argsort(nearest[candidates], kind="stable")]:
        r0, r1, c0, c1 = windows[i]
        zview, iview = depth[r0:r1, c0:c1], ids[r0:r1, c0:c1]
        open_rays = zview > nearest[i]
        if not open_rays.any():
            continue
        t = hit_distance(prims, int(i), origin, dirs[r0:r1, c0:c1][open_rays])
        closer = t < zview[open_rays]
        rows, cols = np.nonzero(open_rays)
        rows, cols = rows[closer], cols[closer]
        zview[rows, cols] = t[closer]
        iview[rows, cols] = i + 1
    return depth, ids
