"""Output writers and the ground-plane scale, checked against closed forms and an independent PLY reader."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tcdepth.inference import fit_ground_plane, ground_points, scale_from_camera_height
from tcdepth.inference.writers import depth_to_png16, point_cloud, transform_cloud, write_depth_png16, write_ply


def read_ply(path) -> tuple[np.ndarray, np.ndarray]:
    """Minimal reader for the x y z red green blue vertex layout (binary little endian or ascii)."""
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    count = int(next(line.split()[2] for line in header if line.startswith("element vertex")))
    props = [line.split()[2] for line in header if line.startswith("property")]
    assert props == ["x", "y", "z", "red", "green", "blue"]
    if "format ascii 1.0" in header:
        rows = np.array([line.split() for line in data[end:].decode("ascii").splitlines()], dtype=np.float64)
        rows = rows.reshape(count, 6)
        return rows[:, :3].astype(np.float32), rows[:, 3:].astype(np.uint8)
    assert "format binary_little_endian 1.0" in header
    raw = np.frombuffer(data[end:], dtype=np.dtype("<f4,<f4,<f4,u1,u1,u1"), count=count)
    points = np.stack([raw[f"f{i}"] for i in range(3)], axis=1)
    colors = np.stack([raw[f"f{i}"] for i in range(3, 6)], axis=1)
    assert len(data) == end + count * 15
    return points, colors


def test_png16_is_metres_times_256(tmp_path):
    depth = np.array([[1.0, 2.5, 0.0], [np.inf, 300.0, 80.123]], dtype=np.float32)
    write_depth_png16(tmp_path / "d.png", depth)
    with Image.open(tmp_path / "d.png") as image:
        values = np.asarray(image).astype(np.int64)
    assert values.tolist() == [[256, 640, 0], [0, 65535, round(80.123 * 256)]]
    assert depth_to_png16(depth).dtype == np.uint16


@pytest.mark.parametrize("binary", [True, False])
def test_point_cloud_ply_holds_the_backprojected_coloured_pixels(tmp_path, binary):
    rng = np.random.default_rng(0)
    depth = rng.uniform(1, 10, (6, 8)).astype(np.float32)
    depth[0, 0] = np.inf  # sky: no point
    image = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    K = np.array([[5.0, 0, 3.5], [0, 4.0, 2.5], [0, 0, 1]], dtype=np.float32)
    points, colors = point_cloud(depth, K, image, step=2)
    write_ply(tmp_path / "c.ply", points, colors, binary=binary)
    read_points, read_colors = read_ply(tmp_path / "c.ply")
    v, u = np.mgrid[0:6:2, 0:8:2]
    keep = np.isfinite(depth[::2, ::2]).reshape(-1)
    z = depth[::2, ::2].reshape(-1)[keep]
    expected = np.stack([(u.reshape(-1)[keep] - 3.5) / 5 * z, (v.reshape(-1)[keep] - 2.5) / 4 * z, z], axis=1)
    assert len(read_points) == 11
    np.testing.assert_allclose(read_points, expected, rtol=1e-5)
    np.testing.assert_array_equal(read_colors, image[::2, ::2].reshape(-1, 3)[keep])


def test_transform_cloud_applies_camera_to_world():
    pose = np.eye(4, dtype=np.float32)
    pose[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]  # 90 degrees about z
    pose[:3, 3] = [1, 2, 3]
    np.testing.assert_allclose(transform_cloud(np.array([[1.0, 0, 0]], np.float32), pose), [[1, 3, 3]])


def plane_depth(height: int, width: int, K: np.ndarray, camera_height: float) -> np.ndarray:
    """Closed form: the ground ``y = camera_height`` seen by a level camera; rows above the horizon are far
    background (a wall at z = 50)."""
    v = np.arange(height, dtype=np.float64)[:, None].repeat(width, axis=1)
    below = v > K[1, 2] + 0.5
    with np.errstate(divide="ignore"):
        ground = camera_height * K[1, 1] / (v - K[1, 2])
    return np.where(below, np.minimum(ground, 50.0), 50.0).astype(np.float32)


def test_camera_height_scale_recovers_the_plane_distance():
    K = np.array([[100.0, 0, 63.5], [0, 100.0, 31.5], [0, 0, 1]])
    depth = plane_depth(64, 128, K, camera_height=0.4)  # relative units: the camera is 0.4 above the ground
    rng = np.random.default_rng(1)
    depth[56:, 10:30] = rng.uniform(1, 3, (8, 20))  # clutter on the ground: outliers for RANSAC
    plane = fit_ground_plane(ground_points(depth, K))
    np.testing.assert_allclose(plane.normal, [0, 1, 0], atol=1e-3)
    assert plane.distance == pytest.approx(0.4, rel=1e-3)
    assert scale_from_camera_height(depth, K, 1.65) == pytest.approx(1.65 / 0.4, rel=1e-3)


def test_camera_height_without_ground_is_an_error():
    K = np.array([[100.0, 0, 63.5], [0, 100.0, 31.5], [0, 0, 1]])
    wall = np.full((64, 128), 5.0, np.float32)  # fronto-parallel wall: no horizontal plane
    with pytest.raises(ValueError, match="no near-horizontal plane"):
        scale_from_camera_height(wall, K, 1.65)
