"""Rendering of a scene into RGB, depth and moving-object masks, one frame at a time."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from tcdepth.synth.config import SynthConfig
from tcdepth.synth.raycast import cast
from tcdepth.synth.scene import BOX, CURB, LANE_WIDTH, SPHERE, Primitives, Scene, build_scene
from tcdepth.synth.textures import texture_library

MAX_DISTANCE = 200.0
NEAR = 0.05
AMBIENT, DIFFUSE = 0.45, 0.75
_EDGES = np.array([(a, b) for a in range(8) for b in range(8) if a < b and bin(a ^ b).count("1") == 1])


@dataclass
class Frame:
    """One rendered frame of a sequence with its exact ground truth."""

    index: int
    rgb: np.ndarray  # uint8 [H,W,3]
    depth: np.ndarray  # float32 [H,W] metres along the optical axis, +inf for sky
    object_ids: np.ndarray  # int16 [H,W]: index of the moving car seen at each pixel, -1 elsewhere
    pose: np.ndarray  # float64 [4,4] camera-to-world
    object_poses: np.ndarray  # float64 [M,4,4] object-to-world of the moving cars

    @property
    def moving_mask(self) -> np.ndarray:
        """bool ``[H,W]``: an independently moving object is seen."""
        return self.object_ids >= 0


def camera_rays(K: np.ndarray, height: int, width: int) -> np.ndarray:
    """``[H,W,3]`` float32 rays ``K^-1 (u, v, 1)`` in camera coordinates (z = 1, so ``t`` is the depth)."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1)
    return rays.astype(np.float32)


def pixel_windows(prims: Primitives, pose: np.ndarray, K: np.ndarray, height: int, width: int):
    """``[N,4]`` ``(r0, r1, c0, c1)`` image rectangles covering each primitive (empty when not in view) and
    ``[N]`` the smallest depth of each primitive's bounding box in front of the camera."""
    corners = (prims.corners() - pose[:3, 3]) @ pose[:3, :3]
    a, b = corners[:, _EDGES[:, 0]], corners[:, _EDGES[:, 1]]
    za, zb = a[..., 2:], b[..., 2:]
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = a + (b - a) * (NEAR - za) / (zb - za)
    crosses = (za > NEAR) != (zb > NEAR)
    points = np.concatenate([corners, np.where(crosses, crossing, np.nan)], axis=1)
    points[points[..., 2] < NEAR - 1e-9] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        u = K[0, 0] * points[..., 0] / points[..., 2] + K[0, 2]
        v = K[1, 1] * points[..., 1] / points[..., 2] + K[1, 2]
    windows = np.zeros((len(prims), 4), np.int64)
    visible = ~np.all(np.isnan(u), axis=1)
    nearest = np.full(len(prims), np.inf)
    nearest[visible] = np.nanmin(points[visible, :, 2], axis=1)
    if visible.any():
        uv = np.stack([np.nanmin(u[visible], 1), np.nanmax(u[visible], 1),
                       np.nanmin(v[visible], 1), np.nanmax(v[visible], 1)], axis=1)
        c0 = np.clip(np.floor(uv[:, 0]), 0, width)
        c1 = np.clip(np.ceil(uv[:, 1]) + 1, 0, width)
        r0 = np.clip(np.floor(uv[:, 2]), 0, height)
        r1 = np.clip(np.ceil(uv[:, 3]) + 1, 0, height)
        windows[visible] = np.stack([r0, r1, c0, c1], axis=1).astype(np.int64)
    return windows, nearest


def cull(prims: Primitives, position: np.ndarray) -> Primitives:
    """Primitives whose bounding sphere comes within ``MAX_DISTANCE`` of ``position``."""
    reach = np.linalg.norm(prims.center - position, axis=1) - np.linalg.norm(prims.size, axis=1)
    return prims.select(reach < MAX_DISTANCE)


def _surface(prims: Primitives, pid: np.ndarray, points: np.ndarray):
    """Surface coordinates ``u, v`` (metres), world normals ``[n,3]`` and face axis of hit points ``[n,3]``.

    ``pid`` ``[n]`` is the primitive seen at each point. The face axis is the local axis of a box face (0, 1, 2)
    and -1 on cylinders and spheres. Also returns the local coordinates ``q`` and half sizes ``[n,3]``.
    """
    kind = np.take(prims.kind, pid)
    c, s = np.take(np.cos(prims.yaw).astype(np.float32), pid), np.take(np.sin(prims.yaw).astype(np.float32), pid)
    rel = points - np.take(prims.center.astype(np.float32), pid, axis=0)
    q = np.stack([c * rel[:, 0] - s * rel[:, 2], rel[:, 1], s * rel[:, 0] + c * rel[:, 2]], axis=1)
    half = np.take(prims.size.astype(np.float32), pid, axis=0)
    extent = np.abs(q) / half
    axis = np.where(extent[:, 1] > extent[:, 0], 1, 0)  # the first largest, as argmax
    axis[extent[:, 2] > np.maximum(extent[:, 0], extent[:, 1])] = 2
    face = np.arange(len(axis)) * 3 + axis  # flat index of each point's face axis in q
    n = np.zeros_like(q)
    n.ravel()[face] = np.sign(np.take(q, face))
    u = np.where(axis == 0, q[:, 2], q[:, 0])
    v = np.where(axis == 1, q[:, 2], q[:, 1])
    round_ = np.flatnonzero(kind != BOX)
    if round_.size:
        axis[round_] = -1
        qr, hr = np.take(q, round_, axis=0), np.take(half, round_, axis=0)
        sphere = kind[round_] == SPHERE
        nr = np.where(sphere[:, None], qr, qr * np.array([1, 0, 1], np.float32))
        n[round_] = nr / (np.linalg.norm(nr, axis=1, keepdims=True) + 1e-9)
        u[round_] = np.arctan2(qr[:, 0], qr[:, 2]) * hr[:, 0]
        v[round_[sphere]] = np.arccos(np.clip(qr[sphere, 1] / hr[sphere, 1], -1, 1)) * hr[sphere, 1]
    normal = np.stack([c * n[:, 0] + s * n[:, 2], n[:, 1], -s * n[:, 0] + c * n[:, 2]], axis=1)
    return q, u, v, normal, axis, half


@dataclass(frozen=True)
class MaterialTable:
    """The scene's materials as arrays: integer codes of kinds and textures, tints, and the shading group of
    each material (one group per pair of kind and texture, numbered in the order of ``kinds`` x ``textures``)."""

    kinds: tuple[str, ...]
    textures: tuple[str, ...]
    kind_code: np.ndarray  # int [M]
    texture_code: np.ndarray  # int [M]
    tint: np.ndarray  # float32 [M,3]

    @classmethod
    def of(cls, materials) -> MaterialTable:
        kinds = tuple(sorted({m.kind for m in materials}))
        textures = tuple(sorted({m.texture for m in materials}))
        return cls(kinds, textures, np.array([kinds.index(m.kind) for m in materials]),
                   np.array([textures.index(m.texture) for m in materials]),
                   np.array([m.color for m in materials], np.float32))

    @property
    def group(self) -> np.ndarray:
        """int16 ``[M]`` shading group of each material."""
        return (self.kind_code * len(self.textures) + self.texture_code).astype(np.int16)

    def group_bounds(self, group: np.ndarray) -> Iterator[tuple[int, slice]]:
        """``(group, slice)`` of each group present in ``group`` ``[n]`` (sorted): its run of positions."""
        starts = np.searchsorted(group, np.arange(len(self.kinds) * len(self.textures) + 1))
        for code in np.flatnonzero(np.diff(starts)):
            yield int(code), slice(int(starts[code]), int(starts[code + 1]))


def _shade_objects(table: MaterialTable, prims: Primitives, pid, points, rays, length, distance):
    """Albedo ``[n,3]`` and world normals ``[n,3]`` of pixels that see primitives ``pid`` ``[n]``.

    The pixels come ordered by the shading group of their material (``table.group``), so that each group is a
    run of consecutive pixels. ``length`` ``[n]`` is the norm of ``rays``, ``distance`` ``[n]`` the frontal pixel
    footprint in metres (the slant of the surface enlarges it).
    """
    lib = texture_library()
    q, u, v, normal, axis, half = _surface(prims, pid, points)
    cos = np.abs(np.einsum("ij,ij->i", normal, rays)) / length
    footprint = distance / np.maximum(cos, 0.2)
    mat = np.take(prims.material, pid)
    tint = np.take(table.tint, mat, axis=0)
    albedo = np.empty_like(points)
    for code, run in table.group_bounds(table.group[mat]):
        kind, texture = table.kinds[code // len(table.textures)], table.textures[code % len(table.textures)]
        albedo[run] = _albedo(kind, lib[texture], lib, tint[run], q[run], u[run], v[run], axis[run], half[run],
                              -points[run, 1], footprint[run])
    return albedo, normal


def _albedo(kind, texture, lib, tint, q, u, v, axis, half, height, footprint):
    if kind == "facade":
        albedo = tint * (0.45 + 0.75 * texture.sample(u, v, footprint))
        floor_frac = np.mod(height / 3.2, 1.0)
        col_frac = np.mod(u / 2.6, 1.0)
        window = (height > 3.2) & (floor_frac > 0.3) & (floor_frac < 0.8) & (col_frac > 0.25) & (col_frac < 0.75)
        shop = (height > 0.4) & (height < 2.6) & (np.mod(u / 5.0, 1.0) < 0.7)
        glass = np.flatnonzero(window | shop)
        reflection = lib["noise"].sample(u[glass] * 0.3, v[glass] * 0.3 + 7.0, footprint[glass])
        albedo[glass] = np.array([0.12, 0.16, 0.22], np.float32) + 0.35 * reflection
        roof = np.flatnonzero(axis == 1)
        albedo[roof] = 0.3 * lib["asphalt"].sample(u[roof], v[roof], footprint[roof])
        return albedo
    if kind == "billboard":
        width = 2 * half[:, 2]
        su = 0.5 - np.sign(q[:, 0]) * q[:, 2] / width
        sv = (q[:, 1] + half[:, 1]) / width
        albedo = texture.sample(su, sv, footprint / width)
        albedo[axis != 0] = 0.2
        return albedo
    if kind in ("foliage", "bark"):
        return tint * (0.35 + 1.0 * texture.sample(u, v, footprint))
    return tint * (0.85 + 0.3 * texture.sample(u * 2, v * 2, footprint))


def _shade_ground(scene: Scene, points: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    lib = texture_library()
    s, lateral = scene.road.road_coords(points[:, 0], points[:, 2])
    a = np.abs(lateral)
    albedo = np.empty((points.shape[0], 3), np.float32)
    road = a < CURB
    asphalt = lib["asphalt"].sample(lateral[road], s[road], footprint[road])
    albedo[road] = (0.12 + 0.35 * asphalt) * np.array([1.0, 1.0, 1.04], np.float32)
    centre = road & (a < 0.08) & (np.mod(s, 9.0) < 4.0)
    edge = road & (np.abs(a - LANE_WIDTH) < 0.08)
    albedo[centre | edge] = 0.85
    curb = (a >= CURB) & (a < CURB + 0.2)
    albedo[curb] = 0.6
    walk = (a >= CURB + 0.2) & (a < CURB + 2.6)
    slabs = (np.mod(s[walk], 1.5) < 0.04) | (np.mod(a[walk], 1.2) < 0.04)
    albedo[walk] = 0.35 + 0.45 * lib["paving"].sample(a[walk], s[walk], footprint[walk])
    albedo[np.flatnonzero(walk)[slabs]] *= 0.6
    verge = a >= CURB + 2.6
    albedo[verge] = (0.3 + 0.9 * lib["grass"].sample(a[verge], s[verge], footprint[verge])) * np.array(
        [0.35, 0.5, 0.2], np.float32)
    return albedo


def sky_color(world_dirs: np.ndarray) -> np.ndarray:
    """``[n,3]`` sky colour for world ray directions ``[n,3]`` (a function of direction only: at infinity)."""
    d = world_dirs / np.linalg.norm(world_dirs, axis=1, keepdims=True)
    elevation = np.clip(-d[:, 1], 0.0, 1.0)
    mix = np.clip(elevation * 3.0, 0, 1)[:, None]
    base = (1 - mix) * np.array([0.78, 0.84, 0.9], np.float32) + mix * np.array([0.38, 0.56, 0.85], np.float32)
    scale = 1.0 / (elevation + 0.15)
    clouds = texture_library()["noise"].sample(d[:, 0] * scale * 4, d[:, 2] * scale * 4, np.zeros(len(d)))[:, 0]
    cover = np.clip((clouds - 0.45) * 3.0, 0, 1)[:, None]
    return (1 - cover) * base + cover * np.float32(0.95)


def _records(rows: np.ndarray) -> np.ndarray:
    """A C-contiguous float32 ``[n,3]`` array as ``[n]`` 12-byte records (a view: one scatter moves whole rows)."""
    if rows.dtype != np.float32 or rows.shape[1:] != (3,):
        raise TypeError(f"expected float32 [n,3] rows, got {rows.dtype} {rows.shape}")
    return rows.view(np.dtype((np.void, 12)))[:, 0]


class Renderer:
    """Renders the frames of one scene with a pinhole camera.

    ``threads`` > 1 shades that many vertical bands of the image in parallel threads (numpy releases the GIL in
    its array operations). Ray casting stays on the whole image: the hit tests of a primitive are computed for
    all its candidate rays at once, as with one thread (numpy's matrix-vector products round differently for
    different numbers of rows), so depth and object ids do not depend on ``threads``.
    """

    def __init__(self, cfg: SynthConfig, scene: Scene, threads: int = 1):
        if threads < 1:
            raise ValueError(f"Renderer: threads must be at least 1, got {threads}")
        self.cfg = cfg
        self.scene = scene
        self.K = cfg.intrinsics().K().double().numpy()
        self.rays = camera_rays(self.K, cfg.height, cfg.width)
        self.materials = MaterialTable.of(scene.materials)
        edges = np.linspace(0, cfg.width, min(threads, cfg.width) + 1).round().astype(int).tolist()
        self.bands = list(zip(edges[:-1], edges[1:], strict=True))

    def frame(self, index: int, camera_offset: np.ndarray | None = None) -> Frame:
        """Frame ``index``; ``camera_offset`` (metres, camera axes) renders a displaced camera, e.g. stereo."""
        scene, cfg = self.scene, self.cfg
        pose = scene.camera_pose(index)
        if camera_offset is not None:
            pose[:3, 3] += pose[:3, :3] @ camera_offset
        prims = cull(scene.world_primitives(index), pose[:3, 3])
        windows, nearest = pixel_windows(prims, pose, self.K, cfg.height, cfg.width)
        world_rays = self.rays @ pose[:3, :3].T.astype(np.float32)
        depth, ids = cast(prims, windows, nearest, pose[:3, 3], world_rays, MAX_DISTANCE)
        gain = scene.exposure[index] * 255.0

        def shade_band(band: int) -> np.ndarray:
            c0, c1 = self.bands[band]
            rgb = self._shade(prims, *(np.ascontiguousarray(x[:, c0:c1]) for x in (depth, ids, world_rays)),
                              pose[:3, 3])
            return np.clip(rgb * gain + 0.5, 0, 255).astype(np.uint8)

        if len(self.bands) == 1:
            rgb = shade_band(0)
        else:
            with ThreadPoolExecutor(len(self.bands)) as pool:
                rgb = np.concatenate(list(pool.map(shade_band, range(len(self.bands)))), axis=1)
        object_of_id = np.concatenate([[-1, -1], prims.obj]).astype(np.int16)
        return Frame(index, rgb, depth, object_of_id[ids + 1], pose, scene.object_poses(index))

    def _shade(self, prims, depth, ids, world_rays, origin) -> np.ndarray:
        flat_ids = ids.ravel()
        rays = world_rays.reshape(-1, 3)
        t = depth.ravel()
        rgb = np.empty((flat_ids.shape[0], 3), np.float32)
        pixels = _records(rgb)
        focal = float(self.K[0, 0])
        sky = np.flatnonzero(flat_ids < 0)
        pixels[sky] = _records(sky_color(np.take(rays, sky, axis=0)))
        objects = np.flatnonzero(flat_ids > 0)
        objects = objects[np.argsort(self.materials.group[prims.material[flat_ids[objects] - 1]], kind="stable")]
        for ground, pix in ((True, np.flatnonzero(flat_ids == 0)), (False, objects)):
            d = np.take(rays, pix, axis=0)
            points = origin.astype(np.float32) + d * t[pix, None]
            length = np.sqrt(np.einsum("ij,ij->i", d, d))
            distance = t[pix] * length / focal
            if ground:
                footprint = distance / np.maximum(np.abs(d[:, 1]) / length, 0.2)
                albedo = _shade_ground(self.scene, points, footprint)
                normal = np.array([[0, -1, 0]], np.float32)
            else:
                albedo, normal = _shade_objects(self.materials, prims, flat_ids[pix] - 1, points, d, length,
                                                distance)
            light = AMBIENT + DIFFUSE * np.clip(normal @ self.scene.sun.astype(np.float32), 0, None)
            pixels[pix] = _records(albedo * light[:, None])
        return rgb.reshape(depth.shape + (3,))


def render_sequence(cfg: SynthConfig, seed: int, threads: int = 1) -> Iterator[Frame]:
    """Frames ``0..cfg.frames-1`` of the sequence with this seed (same seed, same frames, for any ``threads``)."""
    renderer = Renderer(cfg, build_scene(cfg, seed), threads)
    for index in range(cfg.frames):
        yield renderer.frame(index)
