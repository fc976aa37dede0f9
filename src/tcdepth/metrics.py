"""Depth and track error metrics on arrays (numpy; torch tensors are accepted and converted).

``depth_errors`` is the standard set of the monocular-depth field (Eigen et al. 2014, as computed by Monodepth2);
``track_errors`` is the robust error of the Temporal Consistency Metric of TC-Depth (spec 6.2).
"""

from __future__ import annotations

import numpy as np

DEPTH_METRICS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")
TRACK_METRICS = ("abs", "sq", "rmse")


def _as_float64(values) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def depth_errors(gt, pred) -> dict[str, float]:
    """Errors of predicted depths against ground truth, both 1-D ``[N]`` of positive depths.

    ``abs_rel = mean|g-p|/g``, ``sq_rel = mean (g-p)^2/g``, ``rmse = sqrt(mean (g-p)^2)``,
    ``rmse_log = sqrt(mean (ln g - ln p)^2)``, ``a_k = mean(max(g/p, p/g) < 1.25^k)`` for ``k = 1, 2, 3``.
    """
    gt, pred = _as_float64(gt), _as_float64(pred)
    if gt.ndim != 1 or gt.shape != pred.shape:
        raise ValueError(f"depth_errors expects two 1-D arrays of one length, got {gt.shape} and {pred.shape}")
    if gt.size == 0:
        raise ValueError("depth_errors got no pixels (empty arrays)")
    if (gt <= 0).any() or (pred <= 0).any():
        raise ValueError("depth_errors expects positive depths in gt and pred")
    thresh = np.maximum(gt / pred, pred / gt)
    diff = gt - pred
    return {
        "abs_rel": float(np.mean(np.abs(diff) / gt)),
        "sq_rel": float(np.mean(diff**2 / gt)),
        "rmse": float(np.sqrt(np.mean(diff**2))),
        "rmse_log": float(np.sqrt(np.mean((np.log(gt) - np.log(pred)) ** 2))),
        "a1": float(np.mean(thresh < 1.25)),
        "a2": float(np.mean(thresh < 1.25**2)),
        "a3": float(np.mean(thresh < 1.25**3)),
    }


def track_errors(track_gt, track_pred, mask, keep: float = 0.8) -> dict[str, float]:
    """Robust errors between ground-truth and predicted 3D track lengths (TCM, spec 6.2), in metres.

    Args:
        track_gt, track_pred: ``[H,W]`` track lengths.
        mask: ``[H,W]`` bool, the pixels to evaluate.
        keep: fraction of the smallest errors kept (``sample_rate`` of the reference, 0.8).
    Returns:
        With ``e = |track_gt - track_pred|`` on the mask, ``n = floor(keep * |mask|)`` and ``tau`` the largest of
        the ``n`` smallest errors: ``abs`` = mean of ``e`` over ``e < tau`` (strict, as the reference; when no
        error is below ``tau`` every kept error equals ``tau`` and ``abs = tau``), ``sq`` = mean of the ``n``
        smallest ``e^2``, ``rmse = sqrt(sq)``. All NaN when ``n == 0``.
    """
    track_gt, track_pred = _as_float64(track_gt), _as_float64(track_pred)
    mask = np.asarray(mask.detach().cpu().numpy() if hasattr(mask, "detach") else mask, dtype=bool)
    if not (track_gt.shape == track_pred.shape == mask.shape):
        raise ValueError(f"track_errors: shapes differ: track_gt {track_gt.shape}, track_pred "
                         f"{track_pred.shape}, mask {mask.shape}")
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"track_errors: keep must be in (0, 1], got {keep}")
    errors = np.sort(np.abs(track_gt[mask] - track_pred[mask]))
    count = int(np.floor(keep * errors.size))
    if count == 0:
        return {name: float("nan") for name in TRACK_METRICS}
    kept = errors[:count]
    tau = kept[-1]
    below = errors[errors < tau]
    sq = float(np.mean(kept**2))
    return {"abs": float(below.mean()) if below.size else float(tau), "sq": sq, "rmse": float(np.sqrt(sq))}
