import math

import numpy as np
import pytest
import torch

from tcdepth.metrics import depth_errors, track_errors


def test_depth_errors_hand_computed():
    gt = np.array([1.0, 2.0, 4.0, 10.0])
    pred = np.array([1.2, 3.0, 4.0, 5.0])
    err = depth_errors(gt, pred)
    assert err["abs_rel"] == pytest.approx((0.2 + 0.5 + 0.0 + 0.5) / 4)
    assert err["sq_rel"] == pytest.approx((0.04 + 0.5 + 0.0 + 2.5) / 4)
    assert err["rmse"] == pytest.approx(math.sqrt((0.04 + 1.0 + 0.0 + 25.0) / 4))
    logs = [math.log(1.2), math.log(1.5), 0.0, math.log(2.0)]
    assert err["rmse_log"] == pytest.approx(math.sqrt(sum(x * x for x in logs) / 4))
    # max ratios 1.2, 1.5, 1.0, 2.0 against 1.25, 1.5625, 1.953125
    assert (err["a1"], err["a2"], err["a3"]) == pytest.approx((0.5, 0.75, 0.75))


def test_depth_errors_accepts_torch_and_rejects_bad_input():
    gt = torch.tensor([1.0, 2.0])
    assert depth_errors(gt, gt)["abs_rel"] == 0.0
    with pytest.raises(ValueError, match="positive"):
        depth_errors(np.array([1.0, 0.0]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="1-D"):
        depth_errors(np.ones(3), np.ones(4))


def test_track_errors_keeps_smallest_fraction():
    track_gt = np.zeros((2, 6))
    errors = np.arange(1, 11) / 10.0  # 0.1 .. 1.0
    track_pred = np.zeros((2, 6))
    track_pred.flat[:10] = errors[::-1]
    track_pred.flat[10:] = 99.0
    mask = np.zeros((2, 6), dtype=bool)
    mask.flat[:10] = True
    err = track_errors(track_gt, track_pred, mask, keep=0.8)
    # tau = 0.8 (8th smallest); abs averages errors strictly below tau; sq the 8 smallest squares
    assert err["abs"] == pytest.approx(np.mean(errors[:7]))
    assert err["sq"] == pytest.approx(np.mean(errors[:8] ** 2))
    assert err["rmse"] == pytest.approx(math.sqrt(np.mean(errors[:8] ** 2)))


def test_track_errors_zero_and_empty():
    zeros = np.zeros((3, 3))
    assert track_errors(zeros, zeros, np.ones((3, 3), bool)) == {"abs": 0.0, "sq": 0.0, "rmse": 0.0}
    assert all(math.isnan(v) for v in track_errors(zeros, zeros, np.zeros((3, 3), bool)).values())
    with pytest.raises(ValueError, match="shapes differ"):
        track_errors(zeros, np.zeros((3, 4)), np.ones((3, 3), bool))
