"""The multiscale engine of the objectives: which scales are computed together (one *pass*, the scales stacked on
the batch axis), the views each pass compares, the warp of the centre frame into the sources with its reprojection
error and auto-mask, the geometric maps, and the sum over passes (each optionally recomputed in backward).

With ``multiscale == "upsample"`` every scale's disparity is upsampled to ``H x W`` (Monodepth2 v2 multiscale) and
``scales_per_pass`` scales share one warp, one photometric error and one cycle check; with ``"pyramid"`` scale ``s``
is compared at ``H/2^s x W/2^s`` on ``color_{s}`` with ``K_{s}``, one scale per pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch.utils.checkpoint import checkpoint

from tcdepth.geometry import disp_to_depth
from tcdepth.losses.config import LossConfig
from tcdepth.losses.geometric import cycle_error, cycle_mask, geometric_consistency
from tcdepth.losses.inputs import checked_frames, checked_intrinsics
from tcdepth.losses.photometric import automask, reprojection_terms
from tcdepth.losses.warp import misaligned_pixels, reproject, upsample_bilinear, warp_frame

ScaleResult = tuple[int, dict[str, torch.Tensor], dict[str, torch.Tensor]]  # scale, its terms, its masks


class Views(NamedTuple):
    """What one scale's loss warps and compares: ``K``, ``inv_K`` ``[B,3,3]`` of the target ``[B,3,h,w]``, the
    sources ``[F,B,3,h,w]`` and their unwarped reprojection error ``identity`` ``[B,1,h,w]``."""

    K: torch.Tensor
    inv_K: torch.Tensor
    target: torch.Tensor
    sources: torch.Tensor
    identity: torch.Tensor


def views_at(inputs: dict, scale: int, size, cfg: LossConfig) -> Views:
    """float32 ``color_{scale}`` of size ``size`` split into target and sources, with ``K_{scale}``."""
    frames = checked_frames(inputs, scale, size)
    K, inv_K = checked_intrinsics(inputs, scale, frames.shape[0])
    target, sources = frames[:, 0], frames[:, 1:].transpose(0, 1)
    identity = reprojection_terms(sources, target, cfg.ssim_weight, cfg.source_reduction)
    return Views(K, inv_K, target, sources, identity)


def pass_views(inputs: dict, scale: int, cfg: LossConfig, full_views: Views) -> Views:
    """The views of a pass starting at scale ``scale``: the full-resolution ones, or the pyramid level's."""
    if cfg.multiscale == "upsample" or scale == 0:
        return full_views
    h, w = full_views.target.shape[-2:]
    return views_at(inputs, scale, (h >> scale, w >> scale), cfg)


def scale_groups(cfg: LossConfig) -> list[tuple[int, ...]]:
    """Scales whose per-pixel terms are computed in one pass, stacked on the batch axis: ``cfg.scales_per_pass``
    consecutive scales when every scale is compared at full resolution (``"upsample"``: one warp, one photometric
    error, one cycle check per pass instead of per scale), else one scale per pass (``"pyramid"``: sizes differ)."""
    size = cfg.scales_per_pass if cfg.multiscale == "upsample" else 1
    return [cfg.scales[i:i + size] for i in range(0, len(cfg.scales), size)]


def sum_passes(cfg: LossConfig, run_pass: Callable[[tuple[int, ...]], list[ScaleResult]]):
    """``(total, terms, masks)`` of the multiscale objective: ``run_pass(group)`` computes the terms of every scale
    of a group (:func:`scale_groups`); each pass is recomputed in backward when ``cfg.recompute``. ``total`` is the
    mean over scales of the sum of each scale's terms; ``terms`` are detached, keyed ``"<term>/<scale>"``."""
    terms: dict[str, torch.Tensor] = {}
    masks: dict[str, torch.Tensor] = {}
    total = 0.0
    for group in scale_groups(cfg):
        if cfg.recompute and torch.is_grad_enabled():
            results = checkpoint(run_pass, group, use_reentrant=False)
        else:
            results = run_pass(group)
        for s, scale_terms, scale_masks in results:
            total = total + sum(scale_terms.values()) / len(cfg.scales)
            terms.update({f"{name}/{s}": value.detach() for name, value in scale_terms.items()})
            masks.update(scale_masks)
    return total, terms, masks


class WarpedScales(NamedTuple):
    """The per-pixel photometric terms of a group of ``n`` scales, stacked scale-major on the batch axis
    (``n*B``): the group's ``views`` (of one batch, ``B``), ``depth`` ``[n*B,V,1,h,w]`` at the group's size, ``pix``
    ``[F,n*B,h,w,2]`` and ``depth_in_source`` ``[F,n*B,1,h,w]`` of the centre frame, ``reprojection`` and
    auto-``mask`` ``[n*B,1,h,w]``."""

    views: Views
    depth: torch.Tensor
    pix: torch.Tensor
    depth_in_source: torch.Tensor
    reprojection: torch.Tensor
    mask: torch.Tensor


def warp_scales(inputs: dict, disps: list[torch.Tensor], group: tuple[int, ...], cfg: LossConfig,
                full_views: Views, T: torch.Tensor) -> WarpedScales:
    """Depth of every scale of ``group`` (``disps``: ``[B,V,1,h_s,w_s]`` each) at the group's size, the centre
    frame reprojected into the sources with it (``T``: ``[F,B,4,4]``), the reprojection error and the auto-mask."""
    n, (b, v) = len(group), disps[0].shape[:2]
    views = pass_views(inputs, group[0], cfg, full_views)
    size = views.target.shape[-2:]
    loss_disp = torch.cat([upsample_bilinear(d.flatten(0, 1), size) for d in disps]).unflatten(0, (n * b, v))
    depth = disp_to_depth(loss_disp, cfg.min_depth, cfg.max_depth)[1]
    K, inv_K = views.K.repeat(n, 1, 1), views.inv_K.repeat(n, 1, 1)
    pix, depth_in_source = reproject(depth[:, 0], K, inv_K, T.repeat(1, n, 1, 1))
    sources = views.sources.repeat(1, n, 1, 1, 1)
    warped = warp_frame(sources.flatten(0, 1), pix.flatten(0, 1), "border", cfg.align_corners)
    reprojection = reprojection_terms(warped.unflatten(0, sources.shape[:2]), views.target, cfg.ssim_weight,
                                      cfg.source_reduction)
    identity = views.identity.repeat(n, 1, 1, 1)
    if cfg.use_automask:
        mask = automask(reprojection, identity, cfg.automask_noise, cfg.automask_ties)
    else:
        mask = torch.ones_like(reprojection)
    return WarpedScales(views, depth, pix, depth_in_source, reprojection, mask)


def geometric_maps(warped: WarpedScales, n: int, T_to_centre: torch.Tensor | None, cfg: LossConfig):
    """Geometric consistency ``g_f`` ``[F,n*B,1,h,w]`` of a group of ``n`` scales and its cycle masks (same shape,
    each scale thresholded over its own batch; None without cycle masking, i.e. when ``T_to_centre``, the source-to-
    centre transforms ``[F,B,4,4]``, is None)."""
    views, depth, pix = warped.views, warped.depth, warped.pix
    source_depth = depth[:, 1:].transpose(0, 1)
    sample_pix = misaligned_pixels(pix, *views.target.shape[-2:]) if cfg.reference_align_corners_bug else pix
    interpolated = warp_frame(
        source_depth.flatten(0, 1), sample_pix.flatten(0, 1), "zeros", cfg.align_corners
    ).unflatten(0, source_depth.shape[:2])
    consistency = geometric_consistency(
        warped.depth_in_source.clamp(cfg.min_depth, cfg.max_depth),
        interpolated.clamp(cfg.min_depth, cfg.max_depth),
    )
    if T_to_centre is None:
        return consistency, None
    errors = cycle_error(views.target, source_depth, pix, views.K, views.inv_K, T_to_centre.repeat(1, n, 1, 1),
                         cfg.ssim_weight, cfg.align_corners)
    return consistency, cycle_mask(errors.unflatten(1, (n, -1)), cfg.cycle_keep, cfg.cycle_mask_ties).flatten(1, 2)
