import os
import re

import numpy as np
import pytest
from PIL import Image

from tcdepth.data.intrinsics import load_intrinsics
from tcdepth.synth import SynthConfig, render_sequence, sequence_seed, write_dataset
from tcdepth.synth.writers import default_threads

CFG = SynthConfig(width=96, height=32, frames=6, flow_range=2, static_frames=0)


def _parse_calib(path):
    """KITTI devkit style: 'key: numbers' per line, non-numeric values skipped."""
    out = {}
    for line in path.read_text().splitlines():
        key, value = line.split(":", 1)
        try:
            out[key] = np.array([float(x) for x in value.split()])
        except ValueError:
            continue
    return out


@pytest.fixture(scope="module")
def native_root(tmp_path_factory):
    return write_dataset(CFG, tmp_path_factory.mktemp("native"), sequences=3, seed=2)


@pytest.fixture(scope="module")
def kitti_root(tmp_path_factory):
    return write_dataset(CFG, tmp_path_factory.mktemp("kitti"), sequences=1, seed=2, layout="kitti", stereo=True)


def test_native_layout_files(native_root):
    seq = native_root / "seq_000"
    assert load_intrinsics(seq / "intrinsics.yaml").width == 96
    poses = np.load(seq / "poses.npy")
    assert poses.shape == (6, 4, 4) and poses.dtype == np.float64
    depth = np.load(seq / "depth" / "000003.npy")
    assert depth.shape == (32, 96) and depth.dtype == np.float32
    assert np.asarray(Image.open(seq / "rgb" / "000003.png")).shape == (32, 96, 3)
    mask = np.asarray(Image.open(seq / "moving" / "000003.png"))
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
    corr = np.load(seq / "corr" / "000000.npz")
    assert sorted(corr.files) == ["coords_+1", "coords_+2", "visible_+1", "visible_+2"]
    corr = np.load(seq / "corr" / "000003.npz")
    assert {f"coords_{k:+d}" for k in (-2, -1, 1, 2)} <= set(corr.files)
    assert corr["coords_-1"].shape == (32, 96, 2) and corr["visible_-1"].dtype == bool
    assert not list(native_root.rglob("*.tmp*"))


def test_native_splits_list_frames_with_both_neighbours(native_root):
    seen = set()
    for split in ("train", "val", "test"):
        lines = (native_root / "splits" / f"{split}_files.txt").read_text().splitlines()
        assert lines
        for line in lines:
            seq, index = line.split(" ")
            assert 1 <= int(index) <= CFG.frames - 2
            assert (native_root / seq / "rgb" / f"{int(index):06d}.png").is_file()
            seen.add((split, seq))
    assert len({seq for _, seq in seen}) == 3


def test_kitti_layout_and_splits(kitti_root):
    drive = kitti_root / "2000_01_01" / "2000_01_01_drive_0001_sync"
    assert (drive / "image_02" / "data" / "0000000005.png").is_file()
    assert (drive / "image_03" / "data" / "0000000005.png").is_file()
    pattern = re.compile(r"^\d{4}_\d\d_\d\d/\d{4}_\d\d_\d\d_drive_\d{4}_sync \d+ l$")
    for name in ("train_files.txt", "val_files.txt", "test_files.txt"):
        for line in (kitti_root / "splits" / "eigen_like" / name).read_text().splitlines():
            assert pattern.match(line), line
            folder, index, _ = line.split()
            assert (kitti_root / folder / "image_02" / "data" / f"{int(index):010d}.png").is_file()
    poses = np.loadtxt(kitti_root / "poses" / "2000_01_01_drive_0001.txt")
    assert poses.shape == (6, 12)
    np.testing.assert_allclose(poses[0].reshape(3, 4), np.eye(4)[:3], atol=1e-9)


def test_kitti_poses_are_camera0_relative_to_the_first_frame(kitti_root):
    cam = _parse_calib(kitti_root / "2000_01_01" / "calib_cam_to_cam.txt")
    P = cam["P_rect_02"].reshape(3, 4)
    cam0_to_cam2 = np.eye(4)
    cam0_to_cam2[0, 3] = P[0, 3] / P[0, 0]  # x_cam2 = x_cam0 + b e_x
    cam2_poses = [f.pose for f in render_sequence(CFG, sequence_seed(2, 0))]
    cam0_poses = [p @ cam0_to_cam2 for p in cam2_poses]
    expected = np.stack([(np.linalg.inv(cam0_poses[0]) @ p)[:3].ravel() for p in cam0_poses])
    written = np.loadtxt(kitti_root / "poses" / "2000_01_01_drive_0001.txt")
    np.testing.assert_allclose(written, expected, atol=1e-6)


def test_kitti_velodyne_projects_onto_rendered_depth(kitti_root):
    date = kitti_root / "2000_01_01"
    cam = _parse_calib(date / "calib_cam_to_cam.txt")
    velo = _parse_calib(date / "calib_velo_to_cam.txt")
    P = cam["P_rect_02"].reshape(3, 4)
    R_rect = np.eye(4)
    R_rect[:3, :3] = cam["R_rect_00"].reshape(3, 3)
    Tr = np.eye(4)
    Tr[:3, :3], Tr[:3, 3] = velo["R"].reshape(3, 3), velo["T"]
    frames = list(render_sequence(CFG, sequence_seed(2, 0)))
    for index in (0, 4):
        scan = np.fromfile(date / "2000_01_01_drive_0001_sync" / "velodyne_points" / "data" / f"{index:010d}.bin",
                           dtype=np.float32).reshape(-1, 4)
        assert len(scan) > 10_000 and (scan[:, 3] >= 0).all()
        pts = np.concatenate([scan[:, :3].astype(np.float64), np.ones((len(scan), 1))], axis=1)
        img = pts @ (P @ R_rect @ Tr).T
        depth = img[:, 2]
        front = depth > 0.5
        u, v, z = img[front, 0] / depth[front], img[front, 1] / depth[front], depth[front]
        inside = (u >= 0) & (u <= CFG.width - 1) & (v >= 0) & (v <= CFG.height - 1)
        assert inside.sum() > 200
        rendered = _bilinear_inverse_depth(frames[index].depth, u[inside], v[inside])
        rel = np.abs(rendered - z[inside]) / z[inside]
        assert np.median(rel) < 1e-3
        assert (rel < 0.01).mean() > 0.8


def _bilinear_inverse_depth(depth, u, v):
    """Depth at sub-pixel positions by bilinear interpolation of inverse depth (exact inside a planar patch)."""
    inverse = 1.0 / depth.astype(np.float64)
    u0 = np.clip(np.floor(u).astype(int), 0, depth.shape[1] - 2)
    v0 = np.clip(np.floor(v).astype(int), 0, depth.shape[0] - 2)
    a, b = u - u0, v - v0
    value = ((1 - a) * (1 - b) * inverse[v0, u0] + a * (1 - b) * inverse[v0, u0 + 1]
             + (1 - a) * b * inverse[v0 + 1, u0] + a * b * inverse[v0 + 1, u0 + 1])
    return 1.0 / value


def test_bad_layout_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="layout"):
        write_dataset(CFG, tmp_path, layout="tum")


def test_parallel_rendering_writes_the_same_files(tmp_path):
    cfg = SynthConfig(width=96, height=32, frames=4, flow_range=1, static_frames=0)
    serial = write_dataset(cfg, tmp_path / "serial", sequences=2, seed=4, threads=1)
    names = sorted(p.relative_to(serial) for p in serial.rglob("*") if p.is_file())
    for other in (write_dataset(cfg, tmp_path / "processes", sequences=2, seed=4, workers=2),
                  write_dataset(cfg, tmp_path / "threads", sequences=2, seed=4, threads=3)):
        assert names == sorted(p.relative_to(other) for p in other.rglob("*") if p.is_file())
        for name in names:
            assert (serial / name).read_bytes() == (other / name).read_bytes(), (other, name)


def test_default_threads_use_the_cores_of_a_single_process():
    assert 1 <= default_threads() <= max(1, os.cpu_count() or 1)
    assert default_threads(workers=4) == 1


def test_bad_thread_count_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="threads"):
        write_dataset(CFG, tmp_path, threads=0)
