import csv
import json

import numpy as np
import pytest

from tcdepth.evaluation.eigen import evaluate_eigen, load_gt_depths, post_process_disparity
from tcdepth.metrics import EigenOptions, crop_mask


def _scene(height=48, width=160, seed=0):
    rng = np.random.default_rng(seed)
    v, u = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    depth = 5.0 + 10.0 * v / height + 3.0 * np.sin(u / 7.0) + rng.uniform(0, 1, (height, width))
    gt = depth.copy()
    gt[rng.uniform(size=gt.shape) < 0.5] = 0.0  # sparse like LiDAR
    return gt.astype(np.float32), depth.astype(np.float32)


def test_garg_crop_of_kitti_size():
    mask = crop_mask(375, 1242, "garg")
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (153, 371, 44, 1197)
    assert mask.sum() == (371 - 153) * (1197 - 44)
    assert crop_mask(10, 20, "none").all()


def test_perfect_prediction():
    gt, depth = _scene()
    result = evaluate_eigen([gt, gt], [1.0 / depth, 1.0 / depth])
    assert result.mean["abs_rel"] == pytest.approx(0.0, abs=1e-6)
    assert result.mean["a1"] == 1.0
    assert result.ratio_median == pytest.approx(1.0, abs=1e-6)


def test_constant_scale_error_is_removed_only_by_median_scaling():
    gt, depth = _scene()
    scaled = evaluate_eigen([gt], [1.0 / (3.0 * depth)])
    assert scaled.mean["abs_rel"] == pytest.approx(0.0, abs=1e-6)
    assert scaled.ratio_median == pytest.approx(1.0 / 3.0, rel=1e-5)
    raw = evaluate_eigen([gt], [1.0 / (3.0 * depth)], EigenOptions(median_scaling=False))
    assert raw.mean["abs_rel"] == pytest.approx(2.0, rel=1e-5)  # |g - 3g| / g
    assert raw.mean["a3"] == 0.0


def test_fixed_scale_factor_and_cap():
    gt, depth = _scene()
    stereo = EigenOptions(median_scaling=False, scale_factor=5.4)
    assert evaluate_eigen([gt], [5.4 / depth], stereo).mean["abs_rel"] == pytest.approx(0.0, abs=1e-6)
    capped = EigenOptions(max_depth=10.0)
    result = evaluate_eigen([gt], [1.0 / depth], capped)
    assert result.images[0].pixels == int(((gt > 1e-3) & (gt < 10.0) & crop_mask(*gt.shape)).sum())


def test_resize_to_gt_size():
    gt, depth = _scene(height=48, width=160)
    constant_gt = np.where(gt > 0, 7.0, 0.0).astype(np.float32)
    result = evaluate_eigen([constant_gt], [np.full((12, 40), 1.0 / 7.0, np.float32)])
    assert result.mean["abs_rel"] == pytest.approx(0.0, abs=1e-6)


def test_post_process_blend():
    disp = np.ones((4, 100))
    flipped = np.full((4, 100), 2.0)
    blended = post_process_disparity(disp, flipped)
    assert blended[:, 0] == pytest.approx(2.0)  # left border from the flipped-back prediction
    assert blended[:, -1] == pytest.approx(1.0)  # right border from the prediction itself
    assert blended[:, 50] == pytest.approx(1.5)  # the middle is the mean
    ramp = np.linspace(0, 1, 30)[None].repeat(3, 0)
    assert post_process_disparity(ramp, ramp[:, ::-1]) == pytest.approx(ramp)


def test_errors_and_skipping():
    gt, depth = _scene()
    with pytest.raises(ValueError, match="2 ground-truth depth maps for 3 predictions"):
        evaluate_eigen([gt, gt], [1 / depth] * 3)
    with pytest.raises(ValueError, match="frame_b: ground truth is missing"):
        evaluate_eigen([gt, None], [1 / depth] * 2, names=["frame_a", "frame_b"])
    result = evaluate_eigen([gt, None, np.zeros_like(gt)], [1 / depth] * 3, names=["a", "b", "c"], skip_bad=True)
    assert len(result.images) == 1
    assert [name for name, _ in result.skipped] == ["b", "c"]
    assert "no valid ground-truth pixel" in result.skipped[1][1]


def test_outputs(tmp_path):
    gt, depth = _scene()
    result = evaluate_eigen([gt, gt], [1 / depth, 1 / (1.1 * depth)], names=["x", "y"])
    row = result.table_row()
    cells = row.rstrip("\\ ").split("&")[1:]
    assert len(cells) == 7 and row.startswith("&   0.000")
    result.write(tmp_path / "out" / "metrics.json", tmp_path / "out" / "per_image.csv")
    summary = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert summary["num_images"] == 2 and summary["options"]["crop"] == "garg"
    rows = list(csv.DictReader((tmp_path / "out" / "per_image.csv").open()))
    assert [r["name"] for r in rows] == ["x", "y"]
    assert float(rows[1]["ratio"]) == pytest.approx(1 / 1.1, rel=1e-4)


def test_load_gt_depths(tmp_path):
    gt, _ = _scene()
    data = np.empty(2, dtype=object)
    data[0], data[1] = gt, gt[:10]
    np.savez(tmp_path / "gt_depths.npz", data=data)
    loaded = load_gt_depths(tmp_path / "gt_depths.npz")
    assert [d.shape for d in loaded] == [gt.shape, (10, gt.shape[1])]
    np.savez(tmp_path / "bad.npz", depths=gt)
    with pytest.raises(ValueError, match="bad.npz has no key 'data'"):
        load_gt_depths(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_gt_depths(tmp_path / "missing.npz")
