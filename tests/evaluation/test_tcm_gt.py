import numpy as np
import pytest

from tcdepth.data.intrinsics import Intrinsics, save_intrinsics
from tcdepth.data.kitti import ODOMETRY_SEQUENCES, camera2_transform, read_odometry_poses
from tcdepth.evaluation.flicker import flicker_error, sequence_flicker
from tcdepth.evaluation.tcm import evaluate_tcm
from tcdepth.evaluation.tcm_gt import (
    densify,
    kitti_tcm_snippet,
    load_snippet,
    save_snippet,
    synthetic_tcm_snippets,
)

from . import scene
from .test_gt_export import DRIVE, write_kitti_fixture


def write_native_sequence(root, frames=8, centre=4):
    seq = root / "seq0"
    (seq / "depth").mkdir(parents=True)
    (seq / "corr").mkdir()
    K = scene.K
    fx, fy, cx, cy = (float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]))
    save_intrinsics(Intrinsics(fx, fy, cx, cy, scene.WIDTH, scene.HEIGHT), seq / "intrinsics.yaml")
    np.save(seq / "poses.npy", np.stack([scene.camera_to_world(i) for i in range(frames)]))
    for i in range(frames):
        depth = scene.depth(i).astype(np.float32)
        depth[0, 0] = np.inf  # a sky pixel
        np.save(seq / "depth" / f"{i:06d}.npy", depth)
    corr = {}
    for k in (-2, -1, 1, 2):
        corr[f"coords_{k:+d}"] = scene.correspondences(centre, centre + k).astype(np.float32)
        corr[f"visible_{k:+d}"] = np.ones((scene.HEIGHT, scene.WIDTH), bool)
    np.savez(seq / "corr" / f"{centre:06d}.npz", **corr)
    return seq


def test_synthetic_snippets_match_the_scene_and_round_trip(tmp_path):
    seq = write_native_sequence(tmp_path)
    (snippet,) = synthetic_tcm_snippets(seq, [4], window=5)
    assert snippet.depth[0][0, 0] == 0.0  # sky is unknown
    np.testing.assert_allclose(snippet.T_target_to_source[2], scene.target_to_source(4, 6), atol=1e-9)
    np.testing.assert_allclose(snippet.depth[-2][1:], scene.depth(2)[1:], rtol=1e-6)
    perfect = {k: np.where(d > 0, d, 10.0) for k, d in snippet.depth.items()}
    assert evaluate_tcm([snippet], [perfect], window=5).mean["abs"] == pytest.approx(0.0, abs=1e-5)
    save_snippet(snippet, tmp_path / "snippets" / "s.npz")
    loaded = load_snippet(tmp_path / "snippets" / "s.npz")
    assert loaded.name == snippet.name and sorted(loaded.coords) == [-2, -1, 1, 2]
    np.testing.assert_allclose(loaded.coords[1], snippet.coords[1], atol=1e-4)
    with pytest.raises(ValueError, match=r"000004.npz: no key 'coords_-3'"):
        synthetic_tcm_snippets(seq, [4], window=7)
    with pytest.raises(ValueError, match="outside the sequence"):
        synthetic_tcm_snippets(seq, [7], window=3)


def test_odometry_poses(tmp_path):
    path = tmp_path / "00.txt"
    path.write_text("1 0 0 0 0 1 0 0 0 0 1 0\n1 0 0 0.5 0 1 0 0 0 0 1 2\n")
    poses = read_odometry_poses(path)
    assert poses.shape == (2, 4, 4) and poses[1, 2, 3] == 2.0 and poses[1, 3, 3] == 1.0
    path.write_text("1 0 0\n")
    with pytest.raises(ValueError, match=r"00.txt:1: expected 12 numbers"):
        read_odometry_poses(path)


def test_densify_is_exact_on_a_plane():
    rows, cols = np.mgrid[0:10, 0:12]
    plane = 5.0 + 0.3 * rows + 0.1 * cols
    sparse = np.zeros_like(plane)
    sparse[::3, ::3] = plane[::3, ::3]
    dense = densify(sparse)
    inside = (rows <= 9) & (cols <= 9)
    np.testing.assert_allclose(dense[inside], plane[inside], atol=1e-9)
    assert (dense[:, 10:] == 0).all()


def test_camera2_transform_is_a_conjugation(tmp_path):
    calib = tmp_path / "calib_cam_to_cam.txt"
    calib.write_text("P_rect_02: 50 0 10 25 0 50 5 0 0 0 1 0\n")  # camera 2 is 0.5 m along x from camera 0
    T = np.eye(4)
    T[:3, 3] = [0.1, 0.0, -1.0]
    np.testing.assert_allclose(camera2_transform(T, tmp_path), T, atol=1e-12)  # translations commute
    rot = np.eye(4)
    rot[:3, :3] = scene.rotation_y(0.1)
    moved = camera2_transform(rot, tmp_path)
    point_cam2 = np.array([1.0, 0.0, 5.0, 1.0])
    offset = np.array([0.5, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(moved @ point_cam2, rot @ (point_cam2 - offset) + offset, atol=1e-12)


def test_kitti_snippet_of_a_static_camera(tmp_path):
    write_kitti_fixture(tmp_path)
    scans = tmp_path / DRIVE / "velodyne_points" / "data"
    ys, zs = np.meshgrid(np.linspace(-0.9, 0.9, 25), np.linspace(-0.5, 0.5, 15))
    wall = np.stack([np.full(ys.size, 8.0), ys.ravel(), zs.ravel(), np.zeros(ys.size)], 1).astype(np.float32)
    for frame in (2, 3, 4):
        wall.tofile(scans / f"{frame:010d}.bin")
    poses = np.stack([np.eye(4)] * 6)
    snippet = kitti_tcm_snippet(tmp_path, DRIVE, 3, poses, window=3)
    assert (snippet.depth[0][snippet.depth[0] > 0] == pytest.approx(8.0))
    visible = snippet.visible[1]
    assert visible.sum() == (snippet.depth[0] > 0).sum() > 20
    v, u = np.nonzero(visible)
    np.testing.assert_allclose(snippet.coords[1][v, u], np.stack([u, v], 1), atol=1e-9)
    pred = {k: np.full_like(d, 3.0) for k, d in snippet.depth.items()}
    assert evaluate_tcm([snippet], [pred]).mean["abs"] == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ValueError, match="needs poses"):
        kitti_tcm_snippet(tmp_path, DRIVE, 5, poses, window=3)


def test_flicker():
    depths = [scene.depth(i) for i in range(4)]
    transforms = [scene.target_to_source(i, i + 1) for i in range(3)]
    consistent = sequence_flicker(depths, scene.K, transforms)
    assert consistent["mean"] < 1e-3 and len(consistent["pairs"]) == 3
    jittered = [d * (1.0 + 0.05 * (i % 2)) for i, d in enumerate(depths)]
    assert sequence_flicker(jittered, scene.K, transforms)["mean"] > 0.03
    coords = scene.correspondences(0, 1)
    assert flicker_error(depths[0], depths[1], scene.K, transforms[0], coords) < 1e-3
    assert np.isnan(flicker_error(depths[0], depths[1], scene.K, transforms[0], mask=np.zeros_like(depths[0], bool)))
    with pytest.raises(ValueError, match="need 3 transforms"):
        sequence_flicker(depths, scene.K, transforms[:2])


def test_authors_tcm_split_is_covered_by_the_odometry_table():
    from pathlib import Path

    from tcdepth.data.splits import read_kitti_split

    path = Path("/work/shared/kitti_splits/tcm/tcm_test_files.txt")
    if not path.is_file():
        pytest.skip("the shared KITTI split files are not available")
    entries = read_kitti_split(path)
    assert len(entries) == 212 and {e.side for e in entries} == {"l"}
    assert {e.folder for e in entries} == set(ODOMETRY_SEQUENCES)
