"""Vectorised ray casting of the ground plane and analytic primitives into a z-buffer.

Rays form a 2D grid (image rows x columns, or LiDAR beams x azimuths). Each primitive is intersected only with
the rays of its window: the bounding rectangle of its bounding box in grid coordinates, computed by the caller.
"""

from __future__ import annotations

import numpy as np

from tcdepth.synth.scene import BOX, CYLINDER, SPHERE, Primitives

EPS = 1e-4


def _hit_box(origin, dirs, center, rot, half):
    o = (origin - center) @ rot
    d = np.ascontiguousarray((dirs @ rot).T)  # [3,n]: one contiguous row per slab axis
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d
        t1 = (-half - o)[:, None] * inv
        t2 = (half - o)[:, None] * inv
    low, high = np.minimum(t1, t2), np.maximum(t1, t2, out=t2)
    near = np.maximum(np.maximum(low[0], low[1]), low[2])
    far = np.minimum(np.minimum(high[0], high[1]), high[2])
    hit = far >= near
    hit &= near > EPS
    return np.where(hit, near, np.inf)


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


class HitTester:
    """First hits of rays with single primitives of ``prims``, with per-primitive float32 parameters (centres,
    box half sizes, box rotations ``[N,3,3]``) prepared once for many tests."""

    def __init__(self, prims: Primitives):
        self.prims = prims
        self.kind = prims.kind.tolist()
        self.center = prims.center.astype(np.float32)
        self.half = prims.size.astype(np.float32)
        c, s = np.cos(prims.yaw).astype(np.float32), np.sin(prims.yaw).astype(np.float32)
        self.rotation = np.zeros((len(prims), 3, 3), np.float32)
        self.rotation[:, 0, 0], self.rotation[:, 0, 2], self.rotation[:, 1, 1] = c, s, 1.0
        self.rotation[:, 2, 0], self.rotation[:, 2, 2] = -s, c

    def distance(self, i: int, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """Ray parameter ``t`` ``[n]`` of the first hit of primitive ``i`` along ``origin + t * dirs`` (float32
        ``[3]`` and ``[n,3]``; inf: none)."""
        kind = self.kind[i]
        if kind == BOX:
            return _hit_box(origin, dirs, self.center[i], self.rotation[i], self.half[i])
        size = self.prims.size[i]
        if kind == CYLINDER:
            return _hit_cylinder(origin, dirs, self.center[i], size[0], size[1])
        if kind == SPHERE:
            return _hit_sphere(origin, dirs, self.center[i], size[0])
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
    hits = HitTester(prims)
    rays = np.ascontiguousarray(dirs).view(np.dtype((np.void, 12)))[..., 0]  # [R,C] 12-byte records: one gather
    candidates = np.flatnonzero((windows[:, 0] < windows[:, 1]) & (windows[:, 2] < windows[:, 3]))
    for i in candidates[np.argsort(nearest[candidates], kind="stable")].tolist():
        r0, r1, c0, c1 = windows[i].tolist()
        zview, iview = depth[r0:r1, c0:c1], ids[r0:r1, c0:c1]
        tested = zview > nearest[i]
        if not tested.any():
            continue
        t = hits.distance(i, origin, rays[r0:r1, c0:c1][tested].view(np.float32).reshape(-1, 3))
        closer = t < zview[tested]
        tested[tested] = closer  # now: the rays that see primitive i
        zview[tested] = t[closer]
        iview[tested] = i + 1
    return depth, ids
