"""Geometric consistency between depth maps and the photometric cycle mask of TC-Depth."""

from __future__ import annotations

import torch


def geometric_consistency(depth_a: torch.Tensor, depth_b: torch.Tensor) -> torch.Tensor:
    """Scale-invariant depth discrepancy ``1 - min(a, b) / max(a, b)`` (``= |a - b| / max(a, b)``, in [0, 1)).

    Args:
        depth_a, depth_b: positive ``[B,1,H,W]``.
    Returns:
        ``[B,1,H,W]``.
    """
    return 1 - torch.minimum(depth_a, depth_b) / torch.maximum(depth_a, depth_b)


def cycle_mask(cycle_error: torch.Tensor, keep: float = 0.7) -> torch.Tensor:
    """1 where the cycle error is at or below its ``keep``-quantile over a whole batch (all images jointly).

    The reference thresholds ``1 - error`` at its ``1 - keep`` quantile, which is the same threshold; it keeps
    pixels exactly at the threshold with weight ``1 - error`` where this keeps them with weight 1 (so that a
    region of tied, e.g. zero, errors is kept rather than dropped).

    Args:
        cycle_error: ``[...,B,1,H,W]``: one batch ``[B,1,H,W]``, or several on leading axes, each thresholded at
            its own quantile.
    Returns:
        ``[...,B,1,H,W]`` of 0/1 in the dtype of ``cycle_error``.
    """
    batches = cycle_error.detach().float().reshape(-1, cycle_error.shape[-4:].numel())
    thresholds = torch.quantile(batches, keep, dim=1).reshape(*cycle_error.shape[:-4], 1, 1, 1, 1)
    return (cycle_error <= thresholds).to(cycle_error.dtype)
