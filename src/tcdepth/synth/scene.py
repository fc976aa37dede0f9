"""Procedural street scenes: a curved road with buildings, poles, trees, billboards, parked and moving cars.

World frame: x right, y down, z forward at the start (the camera convention), ground plane ``y = 0``. The road
follows a smooth path parameterised by arc length ``s``; things are placed at ``(s, lateral)`` with lateral > 0 on
the right. Everything is drawn from ``numpy.random.default_rng(seed)``, so a seed fixes the whole sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tcdepth.synth.config import SynthConfig
from tcdepth.synth.textures import PHOTO_NAMES

BOX, CYLINDER, SPHERE = 0, 1, 2
LANE_WIDTH = 3.5
CURB = 6.0  # lateral distance of the curb: two lanes plus parking strips
PATH_STEP = 0.5


@dataclass(frozen=True)
class Material:
    kind: str  # facade | billboard | car | glass | tire | metal | foliage | bark
    color: tuple[float, float, float]
    texture: str = "noise"


@dataclass
class Primitives:
    """Analytic primitives; ``size`` holds half extents (box), ``(r, half height, r)`` (cylinder) or ``(r, r, r)``."""

    kind: np.ndarray  # int8 [N]
    center: np.ndarray  # float64 [N,3]
    yaw: np.ndarray  # float64 [N] rotation about the y axis
    size: np.ndarray  # float64 [N,3]
    material: np.ndarray  # int32 [N]
    obj: np.ndarray  # int32 [N], -1 static, else index of the moving object it belongs to

    def __len__(self) -> int:
        return int(self.kind.shape[0])

    def select(self, keep: np.ndarray) -> Primitives:
        return Primitives(self.kind[keep], self.center[keep], self.yaw[keep], self.size[keep],
                          self.material[keep], self.obj[keep])

    def corners(self) -> np.ndarray:
        """``[N,8,3]`` corners of each primitive's (oriented) bounding box."""
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], np.float64)
        local = signs[None] * self.size[:, None, :]
        c, s = np.cos(self.yaw)[:, None], np.sin(self.yaw)[:, None]
        x = c * local[..., 0] + s * local[..., 2]
        z = -s * local[..., 0] + c * local[..., 2]
        return np.stack([x, local[..., 1], z], axis=-1) + self.center[:, None, :]


def yaw_matrix(yaw: float) -> np.ndarray:
    """``[3,3]`` rotation about y by ``yaw``: maps the local forward axis z to ``(sin yaw, 0, cos yaw)``."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


@dataclass
class Road:
    """The road centre line sampled every ``PATH_STEP`` metres of arc length."""

    s: np.ndarray
    x: np.ndarray
    z: np.ndarray
    heading: np.ndarray

    def at(self, s: np.ndarray | float, lateral: np.ndarray | float = 0.0):
        """World ``(x, z)`` and heading of the point ``lateral`` metres right of the centre line at ``s``."""
        heading = np.interp(s, self.s, self.heading)
        x = np.interp(s, self.s, self.x) + lateral * np.cos(heading)
        z = np.interp(s, self.s, self.z) - lateral * np.sin(heading)
        return x, z, heading

    def road_coords(self, x: np.ndarray, z: np.ndarray):
        """Approximate ``(s, lateral)`` of ground points (the road never turns by more than ~35 degrees)."""
        xc = np.interp(z, self.z, self.x)
        heading = np.interp(z, self.z, self.heading)
        offset = x - xc
        return np.interp(z, self.z, self.s) + offset * np.sin(heading), offset * np.cos(heading)


@dataclass
class MovingCar:
    s0: float
    speed: float  # m/s along the road direction, negative for oncoming traffic
    lateral: float


@dataclass
class Scene:
    road: Road
    prims: Primitives  # moving-object primitives are in their object's frame
    materials: list[Material]
    cars: list[MovingCar]
    camera_s: np.ndarray  # [frames] arc length of the camera per frame
    exposure: np.ndarray  # [frames] gain
    sun: np.ndarray  # [3] unit vector towards the sun (world)
    camera_height: float
    fps: float

    def camera_pose(self, frame: int) -> np.ndarray:
        """``[4,4]`` camera-to-world pose: right lane, level, looking along the road."""
        x, z, heading = self.road.at(self.camera_s[frame], LANE_WIDTH / 2)
        pose = np.eye(4)
        pose[:3, :3] = yaw_matrix(float(heading))
        pose[:3, 3] = [float(x), -self.camera_height, float(z)]
        return pose

    def object_poses(self, frame: int) -> np.ndarray:
        """``[M,4,4]`` object-to-world poses of the moving cars at ``frame``."""
        poses = np.tile(np.eye(4), (len(self.cars), 1, 1))
        for i, car in enumerate(self.cars):
            s = car.s0 + car.speed * frame / self.fps
            x, z, heading = self.road.at(s, car.lateral)
            poses[i, :3, :3] = yaw_matrix(float(heading) + (np.pi if car.speed < 0 else 0.0))
            poses[i, :3, 3] = [float(x), 0.0, float(z)]
        return poses

    def world_primitives(self, frame: int) -> Primitives:
        """All primitives in world coordinates at ``frame`` (moving cars placed by their pose)."""
        prims = self.select_all()
        poses = self.object_poses(frame)
        moving = prims.obj >= 0
        if moving.any():
            obj = prims.obj[moving]
            rot, trans = poses[obj, :3, :3], poses[obj, :3, 3]
            prims.center[moving] = np.einsum("nij,nj->ni", rot, prims.center[moving]) + trans
            prims.yaw[moving] = prims.yaw[moving] + np.arctan2(rot[:, 0, 2], rot[:, 0, 0])
        return prims

    def select_all(self) -> Primitives:
        return self.prims.select(np.ones(len(self.prims), bool))


class _Builder:
    def __init__(self):
        self.rows: list[tuple] = []
        self.materials: list[Material] = []

    def material(self, mat: Material) -> int:
        self.materials.append(mat)
        return len(self.materials) - 1

    def add(self, kind, center, yaw, size, material, obj=-1):
        self.rows.append((kind, tuple(center), float(yaw), tuple(size), material, obj))

    def primitives(self) -> Primitives:
        kind, center, yaw, size, material, obj = zip(*self.rows, strict=True)
        return Primitives(np.array(kind, np.int8), np.array(center, np.float64), np.array(yaw, np.float64),
                          np.array(size, np.float64), np.array(material, np.int32), np.array(obj, np.int32))


def _speed_profile(cfg: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    """Per-frame speeds (m/s): random cruise targets, bounded acceleration, and one full stop if it fits."""
    dt = 1.0 / cfg.fps
    target = np.empty(cfg.frames)
    i = 0
    while i < cfg.frames:
        n = int(rng.integers(10, 40))
        target[i:i + n] = rng.uniform(0.35, 1.0) * cfg.max_speed
        i += n
    speed = np.empty(cfg.frames)
    speed[0] = target[0]
    for i in range(1, cfg.frames):
        speed[i] = speed[i - 1] + np.clip(target[i] - speed[i - 1], -3.0 * dt, 2.0 * dt)
    if cfg.static_frames > 0 and cfg.frames >= cfg.static_frames + 6:
        start = int(rng.integers(3, cfg.frames - cfg.static_frames - 2))
        speed[start:start + cfg.static_frames] = 0.0
        for i in range(start - 1, -1, -1):
            speed[i] = min(speed[i], speed[i + 1] + 6.0 * dt)
        for i in range(start + cfg.static_frames, cfg.frames):
            speed[i] = min(speed[i], speed[i - 1] + 3.0 * dt)
    return speed


def _road(rng: np.random.Generator, length: float) -> Road:
    s = np.arange(-150.0, length + 300.0, PATH_STEP)
    curvature = np.zeros_like(s)
    for _ in range(3):
        wavelength = rng.uniform(120.0, 400.0)
        curvature += rng.uniform(-1, 1) * np.sin(2 * np.pi * s / wavelength + rng.uniform(0, 2 * np.pi)) / wavelength
    heading = np.cumsum(curvature) * PATH_STEP
    heading -= np.interp(0.0, s, heading)
    peak = np.abs(heading).max()
    if peak > 0.6:
        heading *= 0.6 / peak
    x = np.cumsum(np.sin(heading)) * PATH_STEP
    z = np.cumsum(np.cos(heading)) * PATH_STEP
    x0, z0 = np.interp(0.0, s, x), np.interp(0.0, s, z)
    return Road(s, x - x0, z - z0, heading)


def _car_boxes(builder: _Builder, rng, center_xz, yaw, obj: int):
    """Body, cabin and underbody (wheels) of a car; in the object frame when ``obj >= 0``."""
    paint = builder.material(Material("car", tuple(rng.uniform(0.1, 0.9, 3))))
    glass = builder.material(Material("glass", (0.15, 0.18, 0.22)))
    tire = builder.material(Material("tire", (0.06, 0.06, 0.06)))
    c, s = np.cos(yaw), np.sin(yaw)

    def at(dz):
        return center_xz[0] + s * dz, center_xz[1] + c * dz

    x, z = at(0.0)
    builder.add(BOX, (x, -0.75, z), yaw, (0.9, 0.4, 2.15), paint, obj)
    builder.add(BOX, (x, -0.2, z), yaw, (0.85, 0.2, 1.75), tire, obj)
    x, z = at(-0.25)
    builder.add(BOX, (x, -1.42, z), yaw, (0.78, 0.27, 1.15), glass, obj)


def build_scene(cfg: SynthConfig, seed: int) -> Scene:
    """The scene, camera speeds and moving cars of sequence ``seed``."""
    rng = np.random.default_rng(seed)
    speed = _speed_profile(cfg, rng)
    camera_s = np.concatenate([[0.0], np.cumsum(speed[1:] / cfg.fps)])
    road = _road(rng, float(camera_s[-1]))
    b = _Builder()
    end = camera_s[-1] + 160.0
    facade_colors = [(0.75, 0.45, 0.35), (0.85, 0.8, 0.7), (0.6, 0.62, 0.65), (0.9, 0.75, 0.5), (0.55, 0.4, 0.35)]
    for side in (-1.0, 1.0):
        cursor = -40.0
        while cursor < end:
            width, depth, height = rng.uniform(8, 22), rng.uniform(8, 14), rng.uniform(5, 22)
            setback = CURB + 3.0 + rng.uniform(0.3, 3.0)
            sc = cursor + width / 2
            x, z, heading = road.at(sc, side * (setback + depth / 2))
            texture = "brick" if rng.random() < 0.5 else "plaster"
            mat = b.material(Material("facade", facade_colors[rng.integers(len(facade_colors))], texture))
            b.add(BOX, (x, -height / 2, z), heading, (depth / 2, height / 2, width / 2), mat)
            if rng.random() < 0.45:
                photo = PHOTO_NAMES[rng.integers(len(PHOTO_NAMES))]
                sign_w = min(width * 0.6, rng.uniform(2.5, 5.0))
                sign_h = sign_w * rng.uniform(0.5, 0.8)
                x, z, _ = road.at(sc, side * (setback - 0.08))
                bm = b.material(Material("billboard", (1.0, 1.0, 1.0), f"photo:{photo}"))
                b.add(BOX, (x, -3.0 - sign_h / 2, z), heading, (0.08, sign_h / 2, sign_w / 2), bm)
            cursor += width + (rng.uniform(4, 10) if rng.random() < 0.2 else rng.uniform(0, 1.5))
        metal = b.material(Material("metal", (0.45, 0.47, 0.5)))
        cursor = rng.uniform(-40, -20)
        while cursor < end:
            x, z, heading = road.at(cursor, side * (CURB + 0.5))
            b.add(CYLINDER, (x, -3.5, z), 0.0, (0.09, 3.5, 0.09), metal)
            ax, az, _ = road.at(cursor, side * (CURB - 0.7))
            b.add(BOX, (ax, -7.0, az), heading, (1.2, 0.08, 0.25), metal)
            cursor += rng.uniform(18, 30)
        cursor = rng.uniform(-40, -30)
        while cursor < end:
            if rng.random() < 0.6:
                x, z, _ = road.at(cursor, side * (CURB + 1.7))
                trunk_h = rng.uniform(2.0, 3.5)
                radius = rng.uniform(1.3, 2.4)
                bark = b.material(Material("bark", (0.35, 0.25, 0.18), "brick"))
                leaves = b.material(Material("foliage", tuple(rng.uniform([0.15, 0.35, 0.1], [0.35, 0.55, 0.2])),
                                             "grass"))
                b.add(CYLINDER, (x, -trunk_h / 2, z), 0.0, (0.18, trunk_h / 2, 0.18), bark)
                b.add(SPHERE, (x, -trunk_h - radius * 0.8, z), 0.0, (radius, radius, radius), leaves)
            cursor += rng.uniform(9, 16)
        cursor = rng.uniform(-30, 0)
        while cursor < end:
            if rng.random() < 0.55:
                x, z, heading = road.at(cursor, side * (CURB - 1.2))
                _car_boxes(b, rng, (x, z), heading + (np.pi if rng.random() < 0.3 else 0.0), -1)
            cursor += rng.uniform(5.5, 9.0)
    cars = []
    for i in range(cfg.moving_cars):
        if i % 3 == 0:
            car = MovingCar(rng.uniform(10, 25), rng.uniform(0.95, 1.15) * cfg.max_speed, LANE_WIDTH / 2)
        else:
            car = MovingCar(rng.uniform(30, 130) + camera_s[-1] * (i % 3 - 1) * 0.5,
                            -rng.uniform(0.5, 1.0) * cfg.max_speed, -LANE_WIDTH / 2)
        cars.append(car)
        _car_boxes(b, rng, (0.0, 0.0), 0.0, i)
    exposure = 1.0 + cfg.exposure_jitter * np.sin(np.arange(cfg.frames) * rng.uniform(0.05, 0.2)
                                                  + rng.uniform(0, 2 * np.pi))
    sun_azimuth = rng.uniform(0, 2 * np.pi)
    sun = np.array([np.cos(sun_azimuth) * 0.6, -0.6, np.sin(sun_azimuth) * 0.6])
    return Scene(road, b.primitives(), b.materials, cars, camera_s, exposure, sun / np.linalg.norm(sun),
                 cfg.camera_height, cfg.fps)
