"""KITTI raw calibration files and velodyne ground truth (the KITTI devkit / Monodepth2 projection).

The calibration of a recording day lives in ``<data_path>/<date>/``: ``calib_cam_to_cam.txt`` (per camera ``i``:
``S_rect_0i`` = rectified width and height, ``R_rect_00`` = rectifying rotation of the reference camera,
``P_rect_0i`` = ``[3,4]`` projection of the rectified camera ``i``) and ``calib_velo_to_cam.txt`` (``R``, ``T``:
velodyne to unrectified camera 0). Camera 2 is the left colour camera (``image_02``), camera 3 the right one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tcdepth.data.intrinsics import Intrinsics

CAM_TO_CAM = "calib_cam_to_cam.txt"
VELO_TO_CAM = "calib_velo_to_cam.txt"


def read_calib_file(path: str | Path) -> dict[str, np.ndarray | str]:
    """Read a KITTI calibration text file: lines ``key: v1 v2 ...``.

    Numeric entries become float64 arrays (flat, in file order); non-numeric ones (``calib_time``) stay strings.
    A line without ``key:`` raises ``ValueError`` naming the file and line number.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"KITTI calibration file {path} does not exist")
    calib: dict[str, np.ndarray | str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise ValueError(f"{path}:{number}: expected 'key: values', got {line!r}")
        try:
            calib[key.strip()] = np.array([float(v) for v in value.split()], dtype=np.float64)
        except ValueError:
            calib[key.strip()] = value.strip()
    return calib


def _entry(calib: dict, key: str, size: int, path: Path) -> np.ndarray:
    value = calib.get(key)
    if value is None:
        raise ValueError(f"KITTI calibration file {path}: missing key {key!r}")
    if isinstance(value, str) or value.size != size:
        raise ValueError(f"KITTI calibration file {path}: {key} must hold {size} numbers, got {value!r}")
    return value


def _check_cam(cam: int) -> None:
    if cam not in (0, 1, 2, 3):
        raise ValueError(f"KITTI camera index must be 0, 1, 2 or 3, got {cam}")


def load_velodyne_points(path: str | Path) -> np.ndarray:
    """Velodyne scan ``[N,4]`` float64 from a KITTI ``.bin`` file (float32 x, y, z, reflectance per point).

    As in Monodepth2 the 4th column is set to 1, so rows are homogeneous points ``(x, y, z, 1)`` in the velodyne
    frame (x forward, y left, z up, metres).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"velodyne scan {path} does not exist")
    raw = np.fromfile(path, dtype=np.float32)
    if raw.size % 4:
        raise ValueError(f"velodyne scan {path}: {raw.size} float32 values is not a multiple of 4 (x, y, z, r)")
    points = raw.reshape(-1, 4).astype(np.float64)
    points[:, 3] = 1.0
    return points


def velo_to_image_matrix(calib_dir: str | Path, cam: int = 2) -> np.ndarray:
    """``[3,4]`` matrix ``P_rect_0{cam} @ R_rect_00 (4x4) @ Tr_velo_to_cam`` mapping velodyne points to pixels."""
    _check_cam(cam)
    calib_dir = Path(calib_dir)
    cam_path, velo_path = calib_dir / CAM_TO_CAM, calib_dir / VELO_TO_CAM
    cam2cam, velo2cam = read_calib_file(cam_path), read_calib_file(velo_path)
    velo_to_cam = np.eye(4)
    velo_to_cam[:3, :3] = _entry(velo2cam, "R", 9, velo_path).reshape(3, 3)
    velo_to_cam[:3, 3] = _entry(velo2cam, "T", 3, velo_path)
    rect = np.eye(4)
    rect[:3, :3] = _entry(cam2cam, "R_rect_00", 9, cam_path).reshape(3, 3)
    p_rect = _entry(cam2cam, f"P_rect_0{cam}", 12, cam_path).reshape(3, 4)
    return p_rect @ rect @ velo_to_cam


def rectified_image_shape(calib_dir: str | Path, cam: int = 2) -> tuple[int, int]:
    """``(height, width)`` of the rectified images of camera ``cam`` (``S_rect_0{cam}`` holds width, height)."""
    _check_cam(cam)
    path = Path(calib_dir) / CAM_TO_CAM
    width, height = _entry(read_calib_file(path), f"S_rect_0{cam}", 2, path)
    return int(round(height)), int(round(width))


def velodyne_depth_map(
    calib_dir: str | Path,
    velo_path: str | Path,
    cam: int = 2,
    image_shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """Sparse depth map float32 ``[H,W]`` (metres along z, 0 = no point) of a velodyne scan seen by camera ``cam``.

    Monodepth2's ``generate_depth_map``: points are projected with :func:`velo_to_image_matrix`; points with depth
    ``<= 0`` (behind the camera) are dropped; the pixel is ``round(x) - 1`` in both axes (numpy rounding, half to
    even), kept when ``0 <= u < W`` and ``0 <= v < H``; where several points hit one pixel the closest one wins.

    Args:
        calib_dir: folder holding ``calib_cam_to_cam.txt`` and ``calib_velo_to_cam.txt`` (``<data_path>/<date>``).
        velo_path: ``velodyne_points/data/<10-digit>.bin``.
        cam: 2 (left colour camera) or 3 (right).
        image_shape: ``(H, W)``; default the rectified size ``S_rect_0{cam}``.
    """
    if image_shape is None:
        image_shape = rectified_image_shape(calib_dir, cam)
    height, width = image_shape
    projection = velo_to_image_matrix(calib_dir, cam)
    points = load_velodyne_points(velo_path)
    projected = points @ projection.T  # [N,3] = (z*u, z*v, z)
    projected = projected[projected[:, 2] > 0]
    depth = projected[:, 2]
    u = np.round(projected[:, 0] / depth) - 1
    v = np.round(projected[:, 1] / depth) - 1
    inside = (u >= 0) & (v >= 0) & (u < width) & (v < height)
    u, v, depth = u[inside].astype(np.int64), v[inside].astype(np.int64), depth[inside]
    closest = np.full(height * width, np.inf)
    np.minimum.at(closest, v * width + u, depth)
    closest[np.isinf(closest)] = 0.0
    return closest.reshape(height, width).astype(np.float32)


def kitti_intrinsics(calib_dir: str | Path, cam: int = 2) -> Intrinsics:
    """Pixel intrinsics of the rectified camera ``cam`` from ``P_rect_0{cam}`` and its size ``S_rect_0{cam}``."""
    _check_cam(cam)
    path = Path(calib_dir) / CAM_TO_CAM
    calib = read_calib_file(path)
    p_rect = _entry(calib, f"P_rect_0{cam}", 12, path).reshape(3, 4)
    width, height = _entry(calib, f"S_rect_0{cam}", 2, path)
    return Intrinsics(
        fx=float(p_rect[0, 0]), fy=float(p_rect[1, 1]), cx=float(p_rect[0, 2]), cy=float(p_rect[1, 2]),
        width=int(round(width)), height=int(round(height)),
    )


#: KITTI raw drives of the TCM split and their odometry sequence (the odometry frame index equals the raw one).
ODOMETRY_SEQUENCES = {
    "2011_10_03/2011_10_03_drive_0027_sync": "00",
    "2011_09_30/2011_09_30_drive_0018_sync": "05",
    "2011_09_30/2011_09_30_drive_0027_sync": "07",
}


def read_odometry_poses(path: str | Path) -> np.ndarray:
    """KITTI odometry ground-truth poses ``[N,4,4]``: 12 numbers per line, the ``[3,4]`` camera-0-to-world pose."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"odometry pose file {path} does not exist")
    poses = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        values = line.split()
        if len(values) != 12:
            raise ValueError(f"{path}:{number}: expected 12 numbers (a 3x4 pose), got {len(values)}")
        pose = np.eye(4)
        pose[:3] = np.array([float(v) for v in values]).reshape(3, 4)
        poses.append(pose)
    return np.stack(poses)


def camera2_transform(T_cam0: np.ndarray, calib_dir: str | Path) -> np.ndarray:
    """Express a rectified camera-0 motion ``T_t->s`` in rectified camera 2: ``A T A^-1`` with ``A = [I | t_02]``,
    ``t_02 = K_2^-1 P_rect_02[:, 3]`` (the rectified cameras differ by a translation only)."""
    path = Path(calib_dir) / CAM_TO_CAM
    projection = np.asarray(read_calib_file(path).get("P_rect_02"))
    if projection.size != 12:
        raise ValueError(f"KITTI calibration file {path}: P_rect_02 must hold 12 numbers")
    projection = projection.reshape(3, 4)
    offset = np.eye(4)
    offset[:3, 3] = np.linalg.inv(projection[:, :3]) @ projection[:, 3]
    return offset @ T_cam0 @ np.linalg.inv(offset)
