"""KITTI calibration parsing and the velodyne projection against hand-computed pixels."""

from pathlib import Path

import numpy as np
import pytest

from tcdepth.data.kitti import (
    kitti_intrinsics,
    load_velodyne_points,
    read_calib_file,
    velodyne_depth_map,
)

from .writers import write_kitti_calib, write_scan

CALIB_EXAMPLE = Path("/work/shared/kitti_splits/calib_example")


def test_depth_map_matches_hand_computed_pixels(tmp_path):
    # camera point (X, Y, Z) = (0.5 - y, -z, x); u = (100 X + 20 Z + 10) / Z, v = (100 Y + 10 Z) / Z; pixel = round - 1
    write_kitti_calib(tmp_path)
    scan = tmp_path / "scan.bin"
    write_scan(scan, [
        (10.0, 0.5, 0.0),     # u = 21, v = 10 -> pixel (20, 9), depth 10
        (12.5, 0.5, 0.0),     # u = 20.8, v = 10 -> same pixel (20, 9), farther: loses
        (5.0, 0.5, 0.0),      # u = 22, v = 10 -> (21, 9), depth 5
        (-10.0, 0.5, 0.0),    # behind the camera (depth -10): dropped although it would land at (18, 9)
        (10.0, -1.42, 0.0),   # u = 40.2 -> round 40 -> pixel 39 = W - 1: kept
        (10.0, 2.57, 0.0),    # u = 0.3 -> round 0 -> pixel -1: dropped
        (10.0, 0.5, -1.03),   # v = 20.3 -> pixel 19 = H - 1: kept at (20, 19)
        (10.0, 0.5, -1.12),   # v = 21.2 -> pixel 20 = H: dropped
    ])
    depth = velodyne_depth_map(tmp_path, scan, cam=2)
    expected = np.zeros((20, 40), np.float32)
    expected[9, 20] = 10.0
    expected[9, 21] = 5.0
    expected[9, 39] = 10.0
    expected[19, 20] = 10.0
    assert depth.dtype == np.float32 and depth.shape == (20, 40)
    np.testing.assert_allclose(depth, expected, atol=1e-5)


def test_closest_point_wins_whatever_the_order(tmp_path):
    # velodyne (z_cam, 0.5 - (z_cam - 10) / 100, 0) lands on u = 20 + (100 X + 10) / Z = 21 -> pixel (20, 9) for any z
    write_kitti_calib(tmp_path)
    scan = tmp_path / "scan.bin"
    for depths in ([6.0, 5.0, 7.0], [7.0, 6.0, 5.0], [5.0, 7.0, 6.0]):
        write_scan(scan, [(z, 0.5 - (z - 10.0) / 100.0, 0.0) for z in depths])
        depth = velodyne_depth_map(tmp_path, scan)
        assert depth[9, 20] == pytest.approx(5.0)
        assert np.count_nonzero(depth) == 1


def naive_depth_map(calib_dir: Path, points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Point-by-point reference written from the KITTI devkit description."""
    cam = read_calib_file(calib_dir / "calib_cam_to_cam.txt")
    velo = read_calib_file(calib_dir / "calib_velo_to_cam.txt")
    rect = np.eye(4)
    rect[:3, :3] = cam["R_rect_00"].reshape(3, 3)
    tr = np.eye(4)
    tr[:3, :3] = velo["R"].reshape(3, 3)
    tr[:3, 3] = velo["T"]
    p = cam["P_rect_02"].reshape(3, 4)
    out = np.zeros(shape)
    for x, y, z in points:
        hom = p @ (rect @ (tr @ np.array([x, y, z, 1.0])))
        if hom[2] <= 0:
            continue
        u, v = int(np.round(hom[0] / hom[2])) - 1, int(np.round(hom[1] / hom[2])) - 1
        if 0 <= u < shape[1] and 0 <= v < shape[0] and (out[v, u] == 0 or hom[2] < out[v, u]):
            out[v, u] = hom[2]
    return out


def test_real_calibration_matches_naive_reference(tmp_path):
    rng = np.random.default_rng(0)
    xyz = np.stack([rng.uniform(-5, 60, 3000), rng.uniform(-20, 20, 3000), rng.uniform(-2, 1, 3000)], axis=1)
    scan = tmp_path / "scan.bin"
    write_scan(scan, [tuple(p) for p in xyz])
    depth = velodyne_depth_map(CALIB_EXAMPLE, scan)
    assert depth.shape == (376, 1241)
    xyz32 = xyz.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(depth, naive_depth_map(CALIB_EXAMPLE, xyz32, (376, 1241)), rtol=1e-6)
    assert (depth > 0).sum() > 100


def test_load_velodyne_points_is_homogeneous(tmp_path):
    scan = tmp_path / "scan.bin"
    write_scan(scan, [(1.0, 2.0, 3.0), (4.0, 5.0, 6.0)])
    points = load_velodyne_points(scan)
    np.testing.assert_allclose(points, [[1, 2, 3, 1], [4, 5, 6, 1]])


def test_truncated_scan_names_the_file(tmp_path):
    scan = tmp_path / "bad.bin"
    np.zeros(7, np.float32).tofile(scan)
    with pytest.raises(ValueError, match="bad.bin"):
        load_velodyne_points(scan)


def test_kitti_intrinsics_from_real_calibration():
    intr = kitti_intrinsics(CALIB_EXAMPLE, cam=2)
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == pytest.approx((718.856, 718.856, 607.1928, 185.2157))
    assert (intr.width, intr.height) == (1241, 376)
    # Monodepth2's normalised KITTI K is about fx/W = 0.58, fy/H = 1.92
    assert intr.fx / intr.width == pytest.approx(0.58, abs=0.01)
    assert intr.fy / intr.height == pytest.approx(1.92, abs=0.02)


def test_read_calib_file_keeps_strings_and_arrays():
    calib = read_calib_file(CALIB_EXAMPLE / "calib_cam_to_cam.txt")
    assert calib["calib_time"] == "09-Jan-2012 14:00:15"
    assert calib["P_rect_03"].shape == (12,)
    assert calib["S_rect_02"].tolist() == [1241.0, 376.0]


def test_malformed_calibration_names_file_and_line(tmp_path):
    path = tmp_path / "calib_cam_to_cam.txt"
    path.write_text("S_rect_02: 40 20\nthis line has no key\n")
    with pytest.raises(ValueError, match=r"calib_cam_to_cam.txt:2"):
        read_calib_file(path)


def test_missing_projection_names_the_key(tmp_path):
    write_kitti_calib(tmp_path)
    with pytest.raises(ValueError, match="P_rect_01"):
        kitti_intrinsics(tmp_path, cam=1)
