"""The composed self-supervised objectives: TC-Depth (spec 4.1-4.8) and the single-frame Monodepth2 baseline.

Each objective checks its inputs (:mod:`tcdepth.losses.inputs`), runs the multiscale engine
(:mod:`tcdepth.losses.passes`) with its own per-scale terms (photometric, smoothness, and for TC-Depth the motion,
geometric and reference terms) and returns a :class:`LossResult`. Losses are computed in float32 with autocast
disabled, whatever the precision of the inputs. The source frames are stacked on a leading frame axis ``F = 2``
(``-1``, ``+1``) so that each warp is one batched ``grid_sample``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from tcdepth.geometry import disp_to_depth, invert_rigid
from tcdepth.losses.config import LossConfig
from tcdepth.losses.geometric import geometric_term
from tcdepth.losses.inputs import (
    checked_coarse_disparity,
    checked_disparity,
    checked_frames,
    checked_teacher_disparity,
    checked_transforms,
)
from tcdepth.losses.motion import consistency_term, motion_mask
from tcdepth.losses.passes import ScaleResult, Views, WarpedScales, geometric_maps, sum_passes, views_at, warp_scales
from tcdepth.losses.photometric import photometric_term
from tcdepth.losses.reference import reference_term
from tcdepth.losses.smoothness import smoothness
from tcdepth.losses.warp import downsample_area


class LossResult(NamedTuple):
    """``total``: scalar to minimise. ``terms``: detached weighted terms, keys ``"<term>/<scale>"``, ``"reference"``
    and ``"total"``. ``masks``: ``"automask/<s>"`` ``[B,1,H,W]``, ``"cycle_mask/<s>"`` ``[B,2,H,W]`` (frames -1, +1),
    ``"motion_mask/<s>"`` ``[B,1,H,W]`` (1 = static), only when asked and only for active terms."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor]


def tcdepth_loss(
    inputs: dict,
    outputs: dict,
    poses: dict,
    teacher_disp: torch.Tensor | None,
    epoch: int,
    config: LossConfig | None = None,
    return_masks: bool = False,
) -> LossResult:
    """The TC-Depth objective ``L = mean_s L_s + w_ref L_ref`` (spec 4.6-4.8).

    ``L_s`` = photometric (min-reprojection, auto-mask) + consistency with the teacher (motion epochs) +
    geometric (cycle-masked) + smoothness ``/ 2^s``, computed in passes of scales (:mod:`tcdepth.losses.passes`).

    Args:
        inputs: batched sample with ``color_0`` ``[B,3,3,H,W]``, ``color_{s}`` per scale, ``K_0``, ``inv_K_0``
            (and ``K_{s}``, ``inv_K_{s}`` per scale for the pyramid).
        outputs: TCDepth outputs: ``disp`` list of ``[B,3,1,H/2^s,W/2^s]`` sigmoid disparity, ``coarse_disp``
            ``[B,3,1,H/8,W/8]`` scaled disparity.
        poses: ``{-1: T_{0->-1}, 1: T_{0->1}}``, each ``[B,4,4]``.
        teacher_disp: the teacher's scale-0 sigmoid disparity ``[B,1,H,W]``; needed only when
            ``config.motion_active(epoch)``.
        epoch: 0-based epoch (selects the motion-masking window).
    """
    cfg = config or LossConfig()
    frames = checked_frames(inputs)
    with torch.autocast(frames.device.type, enabled=False):
        b, _, _, h, w = frames.shape
        T = checked_transforms(poses, b)
        full_views = views_at(inputs, 0, (h, w), cfg)
        teacher_depth = None
        if cfg.motion_active(epoch):
            when = f"at epoch {epoch} (motion epochs {cfg.motion_epochs})"
            teacher = checked_teacher_disparity(teacher_disp, (b, 1, h, w), when)
            teacher_depth = disp_to_depth(teacher, cfg.min_depth, cfg.max_depth)[1]
        T_to_centre = invert_rigid(T) if cfg.use_geometric and cfg.use_cycle_mask else None
        total, terms, masks = sum_passes(
            cfg, lambda group: _tcdepth_pass(inputs, outputs, group, cfg, full_views, T, T_to_centre, teacher_depth))
        if cfg.reference_weight > 0:
            scaled = disp_to_depth(checked_disparity(outputs, 0, (b, 3, 1, h, w)), cfg.min_depth, cfg.max_depth)[0]
            coarse = checked_coarse_disparity(outputs, (b, 3, 1))
            reference = cfg.reference_weight * reference_term(coarse, scaled)
            terms["reference"] = reference.detach()
            total = total + reference
        terms["total"] = total.detach()
    return LossResult(total, terms, masks if return_masks else {})


def monodepth2_loss(
    inputs: dict, outputs: dict, poses: dict, config: LossConfig | None = None, return_masks: bool = False
) -> LossResult:
    """The single-frame Monodepth2 objective: min-reprojection, auto-mask and smoothness, mean over scales.

    The photometric loss is Monodepth2's mean of ``min(r, r_id)``; only ``scales``, ``multiscale``,
    ``scales_per_pass``, ``recompute``, ``source_reduction``, ``ssim_weight``, ``smoothness_weight``,
    ``use_automask``, the depth range and ``align_corners`` of ``config`` apply.

    Args:
        inputs: batched sample with ``color_0`` ``[B,V,3,H,W]`` (frames ``[0, -1, 1]``), ``color_{s}``, ``K_0``,
            ``inv_K_0`` (and ``K_{s}``, ``inv_K_{s}`` per scale for ``multiscale == "pyramid"``).
        outputs: Monodepth2 outputs: ``disp`` list of ``[B,1,H/2^s,W/2^s]`` sigmoid disparity.
        poses: ``{-1: T_{0->-1}, 1: T_{0->1}}``, each ``[B,4,4]``.
    """
    cfg = config or LossConfig()
    frames = checked_frames(inputs)
    with torch.autocast(frames.device.type, enabled=False):
        b, _, _, h, w = frames.shape
        T = checked_transforms(poses, b)
        full_views = views_at(inputs, 0, (h, w), cfg)
        total, terms, masks = sum_passes(
            cfg, lambda group: _monodepth2_pass(inputs, outputs, group, cfg, full_views, T))
        terms["total"] = total.detach()
    return LossResult(total, terms, masks if return_masks else {})


class _ScaleMaps(NamedTuple):
    """The per-pixel maps of the TC-Depth terms. For a pass of ``n`` scales each map holds the ``n`` scales
    stacked scale-major on its batch axis (axis 0, or axis 1 after the frame axis for ``consistency`` and
    ``cycles``); :meth:`per_scale` splits them. None where a term is off."""

    reprojection: torch.Tensor  # [B,1,h,w]
    mask: torch.Tensor  # auto-mask [B,1,h,w]
    centre_depth: torch.Tensor  # [B,1,h,w]
    static: torch.Tensor | None  # motion mask [B,1,h,w]
    teacher_depth: torch.Tensor | None  # [B,1,h,w]
    geometric_mask: torch.Tensor  # auto-mask (times the motion mask) [B,1,h,w]
    consistency: torch.Tensor | None  # g_f [F,B,1,h,w]
    cycles: torch.Tensor | None  # cycle masks [F,B,1,h,w]

    def per_scale(self, n: int) -> list[_ScaleMaps]:
        frame_major = ("consistency", "cycles")
        split = [[None] * n if value is None else value.chunk(n, dim=1 if name in frame_major else 0)
                 for name, value in zip(self._fields, self, strict=True)]
        return [_ScaleMaps(*maps) for maps in zip(*split, strict=True)]


def _tcdepth_pass(inputs: dict, outputs: dict, group: tuple[int, ...], cfg: LossConfig, full_views: Views,
                  T: torch.Tensor, T_to_centre: torch.Tensor | None,
                  full_teacher_depth: torch.Tensor | None) -> list[ScaleResult]:
    """The TC-Depth terms ``L_s`` of the scales of ``group``, computed in one batch (``T``: ``[F,B,4,4]``;
    ``T_to_centre``: their inverses, None without cycle masking; ``full_teacher_depth``: ``[B,1,H,W]`` or None
    outside the motion epochs)."""
    b, _, _, h, w = inputs["color_0"].shape
    n = len(group)
    num_views = 3 if cfg.use_geometric else 1
    disps = [checked_disparity(outputs, s, (b, 3, 1, h >> s, w >> s)) for s in group]
    warped = warp_scales(inputs, [d[:, :num_views] for d in disps], group, cfg, full_views, T)
    group_maps = _tcdepth_maps(warped, n, cfg, T_to_centre, full_teacher_depth)
    identity = warped.views.identity
    results = []
    for s, disp, maps in zip(group, disps, group_maps.per_scale(n), strict=True):
        gate = maps.static if cfg.motion_gating == "photometric" else None
        scale_terms = {"photometric": photometric_term(maps.reprojection, identity, maps.mask,
                                                       cfg.photometric_normalisation or "masked_mean", gate=gate)}
        scale_masks = {f"automask/{s}": maps.mask}
        if cfg.smoothness_weight > 0:
            colour = checked_frames(inputs, s, disp.shape[-2:])[:, 0]
            scale_terms["smoothness"] = cfg.smoothness_weight / 2**s * smoothness(disp[:, 0], colour)
        if maps.static is not None:
            scale_terms["consistency"] = cfg.consistency_weight * consistency_term(maps.centre_depth,
                                                                                   maps.teacher_depth, maps.static)
            scale_masks[f"motion_mask/{s}"] = maps.static
        if maps.consistency is not None:
            scale_terms["geometric"] = cfg.geometric_weight * geometric_term(maps.consistency, maps.geometric_mask,
                                                                             maps.cycles)
        if maps.cycles is not None:
            scale_masks[f"cycle_mask/{s}"] = maps.cycles.squeeze(2).transpose(0, 1)
        results.append((s, scale_terms, scale_masks))
    return results


def _tcdepth_maps(warped: WarpedScales, n: int, cfg: LossConfig, T_to_centre: torch.Tensor | None,
                  full_teacher_depth: torch.Tensor | None) -> _ScaleMaps:
    """The per-pixel maps of the TC-Depth terms of a pass of ``n`` scales (see :class:`_ScaleMaps`)."""
    centre_depth = warped.depth[:, 0]
    teacher_depth = static = None
    if full_teacher_depth is not None:
        teacher_depth = downsample_area(full_teacher_depth, warped.views.target.shape[-2:]).repeat(n, 1, 1, 1)
        static = motion_mask(centre_depth, teacher_depth, cfg.motion_ratio, cfg.motion_mask_form)
    geometric_mask = warped.mask if static is None else warped.mask * static
    consistency, cycles = geometric_maps(warped, n, T_to_centre, cfg) if cfg.use_geometric else (None, None)
    return _ScaleMaps(warped.reprojection, warped.mask, centre_depth, static, teacher_depth, geometric_mask,
                      consistency, cycles)


def _monodepth2_pass(inputs: dict, outputs: dict, group: tuple[int, ...], cfg: LossConfig, full_views: Views,
                     T: torch.Tensor) -> list[ScaleResult]:
    """The Monodepth2 terms of the scales of ``group``, computed in one batch (``T``: ``[F,B,4,4]``)."""
    b, _, _, h, w = inputs["color_0"].shape
    n = len(group)
    disps = [checked_disparity(outputs, s, (b, 1, h >> s, w >> s)) for s in group]
    warped = warp_scales(inputs, [d.unsqueeze(1) for d in disps], group, cfg, full_views, T)
    per_scale = zip(group, disps, warped.reprojection.chunk(n), warped.mask.chunk(n), strict=True)
    results = []
    for s, disp, reprojection, mask in per_scale:
        scale_terms = {"photometric": photometric_term(reprojection, warped.views.identity, mask, "min_mean")}
        if cfg.smoothness_weight > 0:
            colour = checked_frames(inputs, s, disp.shape[-2:])[:, 0]
            scale_terms["smoothness"] = cfg.smoothness_weight / 2**s * smoothness(disp, colour)
        results.append((s, scale_terms, {f"automask/{s}": mask}))
    return results
