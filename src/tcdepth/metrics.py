"""Depth and track error metrics on arrays (numpy; torch tensors are accepted and converted).

``depth_errors`` is the standard set of the monocular-depth field (Eigen et al. 2014, as computed by Monodepth2)
and :func:`evaluate_image` the KITTI Eigen protocol of one image (spec 6.1): the predicted scaled disparity is
resized to the ground-truth size (bilinear, half-pixel centres as cv2), ``depth = 1 / disp``; pixels are kept
where ``min_depth < gt < max_depth`` inside the crop; the prediction is multiplied by ``scale_factor`` and then,
unless disabled, by the median ratio ``median(gt) / median(pred)``; it is clamped to ``[min_depth, max_depth]``
and scored with :func:`depth_errors`. ``track_errors`` is the robust error of the Temporal Consistency Metric of
TC-Depth (spec 6.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

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


#: Crop fractions ``(top, bottom, left, right)`` of the ground-truth size; bounds are ``floor(fraction * size)``.
CROPS = {
    "garg": (0.40810811, 0.99189189, 0.03594771, 0.96405229),
    "eigen": (0.3324324, 0.91351351, 0.0359477, 0.96405229),
}


@dataclass
class EigenOptions:
    """Options of the Eigen protocol; the defaults are the monocular protocol of Monodepth2 and TC-Depth.

    ``crop``: ``"garg"`` (the field's default), ``"eigen"`` (Eigen et al. 2014) or ``"none"``. Stereo-trained
    models use ``median_scaling=False, scale_factor=5.4``.
    """

    min_depth: float = 1e-3
    max_depth: float = 80.0
    crop: str = "garg"
    median_scaling: bool = True
    scale_factor: float = 1.0

    def __post_init__(self):
        if self.crop not in (*CROPS, "none"):
            raise ValueError(f"crop must be one of {[*CROPS, 'none']}, got {self.crop!r}")
        if not 0 <= self.min_depth < self.max_depth:
            raise ValueError(f"need 0 <= min_depth < max_depth, got {self.min_depth}, {self.max_depth}")
        if self.scale_factor <= 0:
            raise ValueError(f"scale_factor must be positive, got {self.scale_factor}")


def crop_mask(height: int, width: int, crop: str = "garg") -> np.ndarray:
    """Bool ``[H,W]`` mask of the evaluation crop: rows ``[floor(t H), floor(b H))``, cols ``[floor(l W), floor(r W))``.

    For KITTI's 375x1242 the Garg crop is rows 153:371, cols 44:1197. ``crop="none"`` keeps everything.
    """
    mask = np.zeros((height, width), dtype=bool)
    if crop == "none":
        mask[:] = True
        return mask
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {[*CROPS, 'none']}, got {crop!r}")
    top, bottom, left, right = CROPS[crop]
    mask[int(top * height):int(bottom * height), int(left * width):int(right * width)] = True
    return mask


def resize_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a ``[h,w]`` map to ``[height,width]`` bilinearly with half-pixel centres (as ``cv2.resize``)."""
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    return F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False)[0, 0].numpy()


@dataclass
class ImageResult:
    """Metrics of one image; ``ratio`` is the median-scaling ratio (NaN when scaling is off)."""

    name: str
    metrics: dict[str, float]
    ratio: float
    pixels: int


def evaluate_image(gt_depth: np.ndarray, pred_disp: np.ndarray, options: EigenOptions,
                   name: str = "") -> ImageResult:
    """Score one predicted scaled disparity ``[h,w]`` against a ground-truth depth map ``[H,W]`` (0 = unknown)."""
    gt_depth = np.asarray(gt_depth, dtype=np.float64)
    pred_disp = np.asarray(pred_disp, dtype=np.float32)
    if gt_depth.ndim != 2:
        raise ValueError(f"{name}: ground truth must be an [H,W] depth map, got shape {gt_depth.shape}")
    if pred_disp.ndim != 2:
        raise ValueError(f"{name}: prediction must be an [h,w] disparity map, got shape {pred_disp.shape}")
    if not np.isfinite(pred_disp).all() or (pred_disp <= 0).any():
        raise ValueError(f"{name}: prediction holds non-finite or non-positive disparities")
    height, width = gt_depth.shape
    pred_depth = 1.0 / resize_bilinear(pred_disp, height, width).astype(np.float64)
    mask = (gt_depth > options.min_depth) & (gt_depth < options.max_depth) & crop_mask(height, width, options.crop)
    if not mask.any():
        raise ValueError(f"{name}: no valid ground-truth pixel in ({options.min_depth}, {options.max_depth}) m "
                         f"inside the {options.crop} crop")
    gt, pred = gt_depth[mask], pred_depth[mask] * options.scale_factor
    ratio = float("nan")
    if options.median_scaling:
        ratio = float(np.median(gt) / np.median(pred))
        pred = pred * ratio
    pred = np.clip(pred, options.min_depth, options.max_depth)
    return ImageResult(name=name, metrics=depth_errors(gt, pred), ratio=ratio, pixels=int(mask.sum()))
