"""A temporal consistency measure that needs no track ground truth: depth flicker between neighbouring frames.

For a target depth ``D_t``, a source depth ``D_s`` and the motion ``T_t->s`` (ground-truth or predicted), the
target points are moved into the source camera, giving ``D_t^w`` (their depth there, on the target grid), and
``D_s`` is sampled where they land (given correspondences, or the projection of the moved points). The flicker
of the pair is ``mean |D_t^w - D_s(sampled)| / D_t`` over the pixels that are valid, land inside the source image
and are in front of it. It is 0 for any depth sequence consistent with the motion, whatever its global scale
when the motion comes from the same (scaled) model; apply the TCM median scaling first when the motion is metric.
"""

from __future__ import annotations

import numpy as np

from tcdepth.evaluation.tcm import depth_in_source, pixel_rays, sample_bilinear


def project_to_source(depth_t: np.ndarray, K: np.ndarray, T_t_to_s: np.ndarray) -> np.ndarray:
    """Pixel ``(u, v)`` ``[H,W,2]`` in the source camera of every target pixel (NaN behind the camera)."""
    height, width = depth_t.shape
    points = pixel_rays(K, height, width) * np.asarray(depth_t, np.float64).reshape(1, -1)
    T = np.asarray(T_t_to_s, np.float64)
    cam = np.asarray(K, np.float64)[:3, :3] @ (T[:3, :3] @ points + T[:3, 3:4])
    with np.errstate(divide="ignore", invalid="ignore"):
        pix = np.where(cam[2] > 1e-6, cam[:2] / cam[2], np.nan)
    return pix.T.reshape(height, width, 2)


def flicker_error(depth_t, depth_s, K, T_t_to_s, coords_t_to_s=None, mask=None) -> float:
    """Relative depth disagreement of a frame pair (see the module docstring); NaN when no pixel is valid.

    Args:
        depth_t, depth_s: ``[H,W]`` depths of the target and source frames.
        K: ``[3,3]``; T_t_to_s: ``[4,4]`` target-to-source motion.
        coords_t_to_s: optional ``[H,W,2]`` pixel correspondences; default the projection of ``depth_t``.
        mask: optional ``[H,W]`` bool of the pixels to use (e.g. visibility, static scene).
    """
    depth_t = np.asarray(depth_t, np.float64)
    depth_s = np.asarray(depth_s, np.float64)
    if depth_t.ndim != 2 or depth_t.shape != depth_s.shape:
        raise ValueError(f"depth_t and depth_s must be [H,W] of one size, got {depth_t.shape}, {depth_s.shape}")
    height, width = depth_t.shape
    coords = project_to_source(depth_t, K, T_t_to_s) if coords_t_to_s is None else np.asarray(coords_t_to_s)
    warped = depth_in_source(depth_t, K, T_t_to_s)
    inside = np.isfinite(coords).all(-1)
    inside &= (coords[..., 0] >= 0) & (coords[..., 0] <= width - 1)
    inside &= (coords[..., 1] >= 0) & (coords[..., 1] <= height - 1)
    valid = inside & (depth_t > 0) & (warped > 0)
    if mask is not None:
        valid &= np.asarray(mask, bool)
    if not valid.any():
        return float("nan")
    sampled = sample_bilinear(depth_s, np.nan_to_num(coords, nan=-1.0))
    return float(np.mean(np.abs(warped - sampled)[valid] / depth_t[valid]))


def sequence_flicker(depths, K, transforms, masks=None) -> dict:
    """Flicker of consecutive pairs of a depth sequence.

    Args:
        depths: ``N`` depth maps ``[H,W]``.
        transforms: ``N-1`` motions ``T_{i->i+1}`` ``[4,4]``.
        masks: optional ``N-1`` bool masks on the grid of frame ``i``.
    Returns:
        ``{"mean": mean over pairs with a valid pixel, "pairs": per-pair values}``.
    """
    if len(transforms) != len(depths) - 1:
        raise ValueError(f"{len(depths)} depth maps need {len(depths) - 1} transforms, got {len(transforms)}")
    pairs = [flicker_error(depths[i], depths[i + 1], K, transforms[i], mask=None if masks is None else masks[i])
             for i in range(len(transforms))]
    finite = [p for p in pairs if np.isfinite(p)]
    return {"mean": float(np.mean(finite)) if finite else float("nan"), "pairs": pairs}
