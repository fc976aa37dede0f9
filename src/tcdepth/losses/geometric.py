"""Geometric terms of TC-Depth: the scale-invariant consistency of warped and interpolated depth, the photometric
cycle error and mask that gate it, and the geometric loss of one scale."""

from __future__ import annotations

import torch

from tcdepth.geometry import backproject, project
from tcdepth.losses.photometric import batch_copies, photometric_error
from tcdepth.losses.warp import warp_frame


def geometric_consistency(depth_a: torch.Tensor, depth_b: torch.Tensor) -> torch.Tensor:
    """Scale-invariant depth discrepancy ``1 - min(a, b) / max(a, b)`` (``= |a - b| / max(a, b)``, in [0, 1)).

    Args:
        depth_a, depth_b: positive ``[B,1,H,W]``.
    Returns:
        ``[B,1,H,W]``.
    """
    return 1 - torch.minimum(depth_a, depth_b) / torch.maximum(depth_a, depth_b)


def cycle_mask(cycle_error: torch.Tensor, keep: float = 0.7, ties: str = "keep") -> torch.Tensor:
    """1 where the cycle error is at or below its ``keep``-quantile over a whole batch (all images jointly).

    ``ties="keep"``: binary, pixels exactly at the threshold are kept with weight 1 (a region of tied, e.g. zero,
    errors is kept rather than dropped). ``ties="soft"`` is the reference's form: ``m = 1 - error`` thresholded at
    its ``1 - keep`` quantile, values above it set to 1, below it to 0, values equal to it keep the weight
    ``1 - error``.

    Args:
        cycle_error: ``[...,B,1,H,W]``: one batch ``[B,1,H,W]``, or several on leading axes, each thresholded at
            its own quantile.
    Returns:
        ``[...,B,1,H,W]`` in the dtype of ``cycle_error``: 0/1, or 0/1 and ``1 - error`` at ties.
    """
    batch_shape = cycle_error.shape[-4:]
    if ties == "soft":
        weights = 1 - cycle_error.detach()
        batches = weights.float().reshape(-1, batch_shape.numel())
        thresholds = torch.quantile(batches, 1 - keep, dim=1).reshape(*cycle_error.shape[:-4], 1, 1, 1, 1)
        ones, zeros = torch.ones_like(weights), torch.zeros_like(weights)
        return torch.where(weights > thresholds, ones, torch.where(weights < thresholds, zeros, weights))
    if ties == "keep":
        batches = cycle_error.detach().float().reshape(-1, batch_shape.numel())
        thresholds = torch.quantile(batches, keep, dim=1).reshape(*cycle_error.shape[:-4], 1, 1, 1, 1)
        return (cycle_error <= thresholds).to(cycle_error.dtype)
    raise ValueError(f"ties: expected 'keep' or 'soft', got {ties!r}")


def cycle_error(
    target: torch.Tensor,
    source_depth: torch.Tensor,
    pix: torch.Tensor,
    K: torch.Tensor,
    inv_K: torch.Tensor,
    T_to_centre: torch.Tensor,
    ssim_weight: float = 0.85,
    align_corners: bool = True,
) -> torch.Tensor:
    """Photometric error of the centre image after a round trip into each source frame and back (detached).

    ``I_0`` is warped into frame ``f`` with ``D_f`` and ``T_{f->0}`` (border padding), then back onto the centre
    grid at ``pix`` (zeros padding), and compared with ``I_0``.

    Args:
        target: ``I_0`` ``[B,3,H,W]``.
        source_depth: ``D_f`` ``[F,N,1,H,W]``, ``N = k*B``: ``k`` copies of the batch stacked on the batch axis
            (e.g. the scales of a pass), each with the batch's ``target``, ``K`` and ``inv_K``.
        pix: ``[F,N,H,W,2]`` centre pixels in frame ``f`` (from :func:`~tcdepth.losses.warp.reproject`).
        K, inv_K: ``[B,3,3]``.
        T_to_centre: ``T_{f->0}`` ``[F,N,4,4]``.
    Returns:
        ``[F,N,1,H,W]``.
    """
    b = target.shape[0]
    copies = batch_copies(source_depth, b, dim=1).shape[1]
    K, inv_K, targets = K.repeat(copies, 1, 1), inv_K.repeat(copies, 1, 1), target.repeat(copies, 1, 1, 1)
    errors = []
    with torch.no_grad():
        for depth_f, pix_f, T_f in zip(source_depth, pix, T_to_centre, strict=True):  # one frame's maps at a time
            pix_in_centre = project(backproject(depth_f, inv_K), K, T_f)
            in_source = warp_frame(targets, pix_in_centre, "border", align_corners)
            round_trip = warp_frame(in_source, pix_f, "zeros", align_corners)
            errors.append(photometric_error(batch_copies(round_trip, b), target, ssim_weight).flatten(0, 1))
        return torch.stack(errors)


def geometric_term(
    consistency: torch.Tensor, mask: torch.Tensor, cycle_masks: torch.Tensor | None = None
) -> torch.Tensor:
    """Geometric loss ``mean_p[ m * mean_f(M_f g_f) ]``: frames averaged, mean over all pixels (not the mask).

    Args:
        consistency: ``g_f`` ``[F,B,1,H,W]`` from :func:`geometric_consistency`.
        mask: ``m`` ``[B,1,H,W]`` (auto-mask, times the motion mask when it gates).
        cycle_masks: ``M_f`` ``[F,B,1,H,W]`` or None (no cycle masking).
    Returns:
        scalar.
    """
    per_frame = consistency if cycle_masks is None else cycle_masks * consistency
    return (mask * per_frame.mean(dim=0)).mean()
