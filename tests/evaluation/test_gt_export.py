import numpy as np
import pytest
from PIL import Image

from tcdepth.cli.main import main
from tcdepth.evaluation.gt_export import export_gt_depths

DRIVE = "2011_09_26/2011_09_26_drive_0001_sync"
HEIGHT, WIDTH = 12, 20


def write_kitti_fixture(root):
    """Camera 2 with f = 50, c = (10, 5); velodyne axes (x fwd, y left, z up) rotated into the camera axes."""
    date = root / "2011_09_26"
    date.mkdir(parents=True)
    (date / "calib_cam_to_cam.txt").write_text(
        f"S_rect_02: {WIDTH}.0 {HEIGHT}.0\n"
        "R_rect_00: 1 0 0 0 1 0 0 0 1\n"
        "P_rect_02: 50 0 10 0 0 50 5 0 0 0 1 0\n")
    (date / "calib_velo_to_cam.txt").write_text("R: 0 -1 0 0 0 -1 1 0 0\nT: 0 0 0\n")
    velo = root / DRIVE / "velodyne_points" / "data"
    velo.mkdir(parents=True)
    points = np.array([
        [10.0, 0.0, 0.0, 0.5],   # camera (0, 0, 10) -> pixel (10, 5) -> stored at (u, v) = (9, 4)
        [20.0, 0.0, 0.0, 0.5],   # same pixel, farther: the closest point wins
        [5.0, -0.5, -0.5, 0.5],  # camera (0.5, 0.5, 5) -> pixel (15, 10) -> (14, 9)
        [-5.0, 0.0, 0.0, 0.5],   # behind the camera
        [5.0, 2.0, 0.0, 0.5],    # camera (-2, 0, 5) -> u = -10: outside
    ], dtype=np.float32)
    points.tofile(velo / "0000000003.bin")
    split = root / "test_files.txt"
    split.write_text(f"{DRIVE} 0000000003 l\n")
    return split


def test_eigen_export_from_velodyne(tmp_path):
    split = write_kitti_fixture(tmp_path)
    out = tmp_path / "out" / "gt_depths.npz"
    assert main(["export-gt", "--data-path", str(tmp_path), "--split", "eigen", "--split-file", str(split),
                 "--out", str(out)]) == 0
    with np.load(out, allow_pickle=True) as archive:
        depths = archive["data"]
    expected = np.zeros((HEIGHT, WIDTH), np.float32)
    expected[4, 9] = 10.0
    expected[9, 14] = 5.0
    assert depths.dtype == object and len(depths) == 1
    assert depths[0].dtype == np.float32
    np.testing.assert_allclose(depths[0], expected, atol=1e-5)


def test_benchmark_export_from_png(tmp_path):
    gt_dir = tmp_path / DRIVE / "proj_depth" / "groundtruth" / "image_02"
    gt_dir.mkdir(parents=True)
    raw = np.zeros((HEIGHT, WIDTH), np.uint16)
    raw[3, 4] = 2560  # 10 m
    raw[7, 1] = 300   # 1.171875 m
    Image.fromarray(raw).save(gt_dir / "0000000069.png")
    split = tmp_path / "bench.txt"
    split.write_text(f"{DRIVE} 69 l\n")
    out = tmp_path / "gt.npz"
    export_gt_depths(tmp_path, "eigen_benchmark", split, out)
    depth = np.load(out, allow_pickle=True)["data"][0]
    assert depth[3, 4] == 10.0 and depth[7, 1] == pytest.approx(300 / 256) and (depth > 0).sum() == 2


def test_missing_scan_is_named_and_can_be_skipped(tmp_path, capsys):
    split = write_kitti_fixture(tmp_path)
    split.write_text(f"{DRIVE} 0000000003 l\n{DRIVE} 0000000004 l\n")
    out = tmp_path / "gt.npz"
    code = main(["export-gt", "--data-path", str(tmp_path), "--split", "eigen", "--split-file", str(split),
                 "--out", str(out)])
    assert code == 1 and not out.exists()
    assert "line 2" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="0000000004.bin"):
        export_gt_depths(tmp_path, "eigen", split, out)
    missing = export_gt_depths(tmp_path, "eigen", split, out, skip_missing=True)
    assert len(missing) == 1 and "0000000004.bin" in missing[0]
    depths = np.load(out, allow_pickle=True)["data"]
    assert depths[1] is None and depths[0].shape == (HEIGHT, WIDTH)


def test_bad_calibration_is_named(tmp_path):
    split = write_kitti_fixture(tmp_path)
    (tmp_path / "2011_09_26" / "calib_cam_to_cam.txt").write_text("S_rect_02: 20 12\nR_rect_00: 1 0 0\n")
    with pytest.raises(ValueError, match="calib_cam_to_cam.txt"):
        export_gt_depths(tmp_path, "eigen", split, tmp_path / "gt.npz")
    assert not (tmp_path / "gt.npz").exists()
