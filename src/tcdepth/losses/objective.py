"""The composed self-supervised objectives: TC-Depth (spec 4.1-4.8) and the single-frame Monodepth2 baseline.

Inputs follow docs/architecture.md: a batched dataset sample (``color_0`` ``[B,3,3,H,W]`` in the frame order
``[0, -1, 1]``, ``color_{s}``, ``K_0``, ``inv_K_0``), the model output dict and the poses
``{-1: T_{0->-1}, 1: T_{0->1}}`` ``[B,4,4]``. Losses are computed in float32 with autocast disabled, whatever the
precision of the inputs. The source frames are stacked on a leading frame axis ``F = 2`` (``-1``, ``+1``) so that
each warp is one batched ``grid_sample``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from tcdepth.geometry import backproject, disp_to_depth, invert_rigid, project
from tcdepth.losses.config import LossConfig
from tcdepth.losses.geometric import cycle_mask, geometric_consistency
from tcdepth.losses.photometric import photometric_error
from tcdepth.losses.smoothness import smoothness
from tcdepth.losses.warp import misaligned_pixels, reproject, warp_frame

SOURCE_FRAMES = (-1, 1)


class LossResult(NamedTuple):
    """``total``: scalar to minimise. ``terms``: detached weighted terms, keys ``"<term>/<scale>"``, ``"reference"``
    and ``"total"``. ``masks``: ``"automask/<s>"`` ``[B,1,H,W]``, ``"cycle_mask/<s>"`` ``[B,2,H,W]`` (frames -1, +1),
    ``"motion_mask/<s>"`` ``[B,1,H,W]`` (1 = static), only when asked and only for active terms."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor]


def reprojection_terms(
    images: torch.Tensor, target: torch.Tensor, ssim_weight: float = 0.85, reduction: str = "min"
) -> torch.Tensor:
    """Per-pixel minimum (``reduction="min"``) or mean (``"mean"``) over frames of the photometric error against
    ``target``.

    Args:
        images: ``[F,N,3,H,W]`` (warped or unwarped source frames), ``N = k*B``: ``k`` copies of the batch stacked
            on the batch axis (e.g. the scales of a pass), each compared with ``target``.
        target: ``[B,3,H,W]``.
    Returns:
        ``[N,1,H,W]``.
    """
    b = target.shape[0]
    if torch.is_grad_enabled() and images.requires_grad:
        # One source frame at a time: photometric_error recomputes each frame's SSIM maps on their own in
        # backward, so only one frame's maps are alive together there.
        errors = torch.stack([photometric_error(_per_copy(frame, b), target, ssim_weight).flatten(0, 1)
                              for frame in images])
    else:
        errors = photometric_error(_per_copy(images, b, dim=1), target, ssim_weight).flatten(1, 2)
    if reduction == "min":
        return errors.amin(dim=0)
    if reduction == "mean":
        return errors.mean(dim=0)
    raise ValueError(f"reduction: expected 'min' or 'mean', got {reduction!r}")


def automask(reprojection: torch.Tensor, identity: torch.Tensor, tie_noise: float = 1e-5) -> torch.Tensor:
    """Monodepth2 auto-mask: 1 where warping beats the unwarped sources, ``r < r_id + N(0,1) * tie_noise``.

    Args:
        reprojection, identity: ``[B,1,H,W]``.
    Returns:
        ``[B,1,H,W]`` of 0/1, detached.
    """
    noisy_identity = identity + torch.randn_like(identity) * tie_noise
    return (reprojection.detach() < noisy_identity.detach()).to(reprojection.dtype)


def photometric_term(
    reprojection: torch.Tensor,
    identity: torch.Tensor,
    mask: torch.Tensor,
    normalisation: str = "masked_mean",
    gate: torch.Tensor | None = None,
) -> torch.Tensor:
    """Photometric loss of one scale.

    ``"masked_mean"``: ``sum(g m r) / (sum(g m) + 1e-7)`` (TC-Depth, ManyDepth). ``"min_mean"``:
    ``mean(g (m r + (1 - m) r_id))``, i.e. Monodepth2's mean of ``min(r, r_id)``.

    Args:
        reprojection: ``r`` ``[B,1,H,W]``; identity: ``r_id`` ``[B,1,H,W]``.
        mask: auto-mask ``m`` ``[B,1,H,W]`` (all ones when auto-masking is off).
        gate: optional extra per-pixel weight ``g`` ``[B,1,H,W]`` (the motion mask in ManyDepth-style gating).
    Returns:
        scalar.
    """
    weights = mask if gate is None else mask * gate
    if normalisation == "masked_mean":
        return (weights * reprojection).sum() / (weights.sum() + 1e-7)
    if normalisation == "min_mean":
        per_pixel = mask * reprojection + (1 - mask) * identity
        return per_pixel.mean() if gate is None else (gate * per_pixel).mean()
    raise ValueError(f"normalisation: expected 'masked_mean' or 'min_mean', got {normalisation!r}")


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
        pix: ``[F,N,H,W,2]`` centre pixels in frame ``f`` (from :func:`reproject`).
        K, inv_K: ``[B,3,3]``.
        T_to_centre: ``T_{f->0}`` ``[F,N,4,4]``.
    Returns:
        ``[F,N,1,H,W]``.
    """
    b = target.shape[0]
    copies = _per_copy(source_depth, b, dim=1).shape[1]
    K, inv_K, targets = K.repeat(copies, 1, 1), inv_K.repeat(copies, 1, 1), target.repeat(copies, 1, 1, 1)
    errors = []
    with torch.no_grad():
        for depth_f, pix_f, T_f in zip(source_depth, pix, T_to_centre, strict=True):  # one frame's maps at a time
            pix_in_centre = project(backproject(depth_f, inv_K), K, T_f)
            in_source = warp_frame(targets, pix_in_centre, "border", align_corners)
            round_trip = warp_frame(in_source, pix_f, "zeros", align_corners)
            errors.append(photometric_error(_per_copy(round_trip, b), target, ssim_weight).flatten(0, 1))
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


def motion_mask(student_depth: torch.Tensor, teacher_depth: torch.Tensor, ratio: float = 1.6) -> torch.Tensor:
    """1 where student and teacher depth agree, ``max(D_s/D_T, D_T/D_s) < ratio`` (static), else 0.

    Args:
        student_depth, teacher_depth: ``[B,1,H,W]``, compared raw (no median alignment, as the reference).
    Returns:
        ``[B,1,H,W]`` of 0/1, detached.
    """
    student = student_depth.detach()
    disagreement = torch.maximum(student / teacher_depth, teacher_depth / student)
    return (disagreement < ratio).to(student_depth.dtype)


def consistency_term(student_depth: torch.Tensor, teacher_depth: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
    """Pull moving pixels to the teacher: ``mean_p[(1 - static) |1/D_s - 1/D_T|]`` (scaled-disparity units).

    Args:
        student_depth: ``[B,1,H,W]``; teacher_depth: ``[B,1,H,W]`` (gets no gradient); static: ``[B,1,H,W]``.
    Returns:
        scalar.
    """
    return ((1 - static) * (1 / student_depth - 1 / teacher_depth.detach()).abs()).mean()


def reference_term(coarse_disp: torch.Tensor, scaled_disp: torch.Tensor) -> torch.Tensor:
    """Self-distillation of the coarse reference decoder: ``mean |up(coarse) - stopgrad(scaled_disp)|``.

    Args:
        coarse_disp: ``[B,V,1,h,w]`` scaled disparity of the reference decoder.
        scaled_disp: ``[B,V,1,H,W]`` scaled disparity of the main decoder at scale 0 (detached here).
    Returns:
        scalar (mean over views and pixels).
    """
    size = scaled_disp.shape[-2:]
    upsampled = _upsample(coarse_disp.flatten(0, 1), size).unflatten(0, coarse_disp.shape[:2])
    return (upsampled - scaled_disp.detach()).abs().mean()


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
    geometric (cycle-masked) + smoothness ``/ 2^s``. With ``config.multiscale == "upsample"`` every scale's
    disparity is upsampled to ``H x W`` before warping (Monodepth2 v2 multiscale), and ``scales_per_pass``
    scales are warped and compared in one batch (:func:`_scale_groups`); with ``"pyramid"`` every term of scale
    ``s`` is computed at ``H/2^s x W/2^s`` on ``color_{s}`` with ``K_{s}``.

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
    frames = _check_frames(inputs, views=3)
    with torch.autocast(frames.device.type, enabled=False):
        b, _, _, h, w = frames.shape
        T = _transforms(poses, b)
        full_views = _views(inputs, 0, (h, w), cfg)
        teacher_depth = _teacher_depth(teacher_disp, cfg, epoch, (b, 1, h, w))
        T_to_centre = invert_rigid(T) if cfg.use_geometric and cfg.use_cycle_mask else None
        total, terms, masks = _sum_passes(
            cfg, lambda group: _tcdepth_pass(inputs, outputs, group, cfg, full_views, T, T_to_centre, teacher_depth))
        if cfg.reference_weight > 0:
            scaled = disp_to_depth(_scale_disp(outputs, 0, (b, 3, 1, h, w)), cfg.min_depth, cfg.max_depth)[0]
            coarse = _coarse_disp(outputs, (b, 3, 1))
            reference = cfg.reference_weight * reference_term(coarse, scaled)
            terms["reference"] = reference.detach()
            total = total + reference
        terms["total"] = total.detach()
    return LossResult(total, terms, masks if return_masks else {})


def monodepth2_loss(
    inputs: dict, outputs: dict, poses: dict, config: LossConfig | None = None, return_masks: bool = False
) -> LossResult:
    """The single-frame Monodepth2 objective: min-reprojection, auto-mask and smoothness, mean over scales.

    The photometric loss is always Monodepth2's mean of ``min(r, r_id)`` (``config.photometric_normalisation``
    is ignored); only ``scales``, ``multiscale``, ``scales_per_pass``, ``recompute``, ``source_reduction``,
    ``ssim_weight``, ``smoothness_weight``, ``use_automask``, the depth range and ``align_corners`` of ``config``
    apply.

    Args:
        inputs: batched sample with ``color_0`` ``[B,V,3,H,W]`` (frames ``[0, -1, 1]``), ``color_{s}``, ``K_0``,
            ``inv_K_0`` (and ``K_{s}``, ``inv_K_{s}`` per scale for ``multiscale == "pyramid"``).
        outputs: Monodepth2 outputs: ``disp`` list of ``[B,1,H/2^s,W/2^s]`` sigmoid disparity.
        poses: ``{-1: T_{0->-1}, 1: T_{0->1}}``, each ``[B,4,4]``.
    """
    cfg = config or LossConfig()
    frames = _check_frames(inputs, views=3)
    with torch.autocast(frames.device.type, enabled=False):
        b, _, _, h, w = frames.shape
        T = _transforms(poses, b)
        full_views = _views(inputs, 0, (h, w), cfg)
        total, terms, masks = _sum_passes(
            cfg, lambda group: _monodepth2_pass(inputs, outputs, group, cfg, full_views, T))
        terms["total"] = total.detach()
    return LossResult(total, terms, masks if return_masks else {})


_ScaleResult = tuple[int, dict[str, torch.Tensor], dict[str, torch.Tensor]]  # scale, its terms, its masks


def _sum_passes(cfg: LossConfig, run_pass: Callable[[tuple[int, ...]], list[_ScaleResult]]):
    """``(total, terms, masks)`` of the multiscale objective: ``run_pass(group)`` computes the terms of every scale
    of a group (:func:`_scale_groups`); each pass is recomputed in backward when ``cfg.recompute``."""
    terms: dict[str, torch.Tensor] = {}
    masks: dict[str, torch.Tensor] = {}
    total = 0.0
    for group in _scale_groups(cfg):
        if cfg.recompute and torch.is_grad_enabled():
            results = checkpoint(run_pass, group, use_reentrant=False)
        else:
            results = run_pass(group)
        for s, scale_terms, scale_masks in results:
            total = total + sum(scale_terms.values()) / len(cfg.scales)
            terms.update({f"{name}/{s}": value.detach() for name, value in scale_terms.items()})
            masks.update(scale_masks)
    return total, terms, masks


def _tcdepth_pass(inputs: dict, outputs: dict, group: tuple[int, ...], cfg: LossConfig, full_views: _Views,
                  T: torch.Tensor, T_to_centre: torch.Tensor | None,
                  full_teacher_depth: torch.Tensor | None) -> list[_ScaleResult]:
    """The TC-Depth terms ``L_s`` of the scales of ``group``, computed in one batch (``T``: ``[F,B,4,4]``;
    ``T_to_centre``: their inverses, None without cycle masking; ``full_teacher_depth``: ``[B,1,H,W]`` or None
    outside the motion epochs)."""
    b, _, _, h, w = inputs["color_0"].shape
    n = len(group)
    num_views = 3 if cfg.use_geometric else 1
    disps = [_scale_disp(outputs, s, (b, 3, 1, h >> s, w >> s)) for s in group]
    warped = _warp_scales(inputs, [d[:, :num_views] for d in disps], group, cfg, full_views, T)
    centre_depth = warped.depth[:, 0]
    teacher_depth = static = None
    if full_teacher_depth is not None:
        teacher_depth = _downsample(full_teacher_depth, warped.views.target.shape[-2:]).repeat(n, 1, 1, 1)
        static = motion_mask(centre_depth, teacher_depth, cfg.motion_ratio)
    geo_mask = warped.mask if static is None else warped.mask * static
    consistency, cycles = _geometric_maps(warped, n, T_to_centre, cfg) if cfg.use_geometric else (None, None)
    per_scale = zip(group, disps, warped.reprojection.chunk(n), [warped.views.identity] * n, warped.mask.chunk(n),
                    _chunks(static, n), _chunks(centre_depth, n), _chunks(teacher_depth, n), _chunks(geo_mask, n),
                    _chunks(consistency, n, dim=1), _chunks(cycles, n, dim=1), strict=True)
    results = []
    for s, disp, reprojection, identity, mask, static_s, depth_s, teacher_s, geo_s, consistency_s, cycles_s \
            in per_scale:
        scale_terms = {
            "photometric": photometric_term(
                reprojection, identity, mask, cfg.photometric_normalisation,
                gate=static_s if cfg.motion_gating == "photometric" else None,
            )
        }
        scale_masks = {f"automask/{s}": mask}
        if cfg.smoothness_weight > 0:
            colour = _scale_frames(inputs, s, disp.shape[-2:])[:, 0]
            scale_terms["smoothness"] = cfg.smoothness_weight / 2**s * smoothness(disp[:, 0], colour)
        if static_s is not None:
            scale_terms["consistency"] = cfg.consistency_weight * consistency_term(depth_s, teacher_s, static_s)
            scale_masks[f"motion_mask/{s}"] = static_s
        if consistency_s is not None:
            scale_terms["geometric"] = cfg.geometric_weight * geometric_term(consistency_s, geo_s, cycles_s)
        if cycles_s is not None:
            scale_masks[f"cycle_mask/{s}"] = cycles_s.squeeze(2).transpose(0, 1)
        results.append((s, scale_terms, scale_masks))
    return results


def _monodepth2_pass(inputs: dict, outputs: dict, group: tuple[int, ...], cfg: LossConfig, full_views: _Views,
                     T: torch.Tensor) -> list[_ScaleResult]:
    """The Monodepth2 terms of the scales of ``group``, computed in one batch (``T``: ``[F,B,4,4]``)."""
    b, _, _, h, w = inputs["color_0"].shape
    n = len(group)
    disps = [_scale_disp(outputs, s, (b, 1, h >> s, w >> s)) for s in group]
    warped = _warp_scales(inputs, [d.unsqueeze(1) for d in disps], group, cfg, full_views, T)
    per_scale = zip(group, disps, warped.reprojection.chunk(n), [warped.views.identity] * n, warped.mask.chunk(n),
                    strict=True)
    results = []
    for s, disp, reprojection, identity, mask in per_scale:
        scale_terms = {"photometric": photometric_term(reprojection, identity, mask, "min_mean")}
        if cfg.smoothness_weight > 0:
            colour = _scale_frames(inputs, s, disp.shape[-2:])[:, 0]
            scale_terms["smoothness"] = cfg.smoothness_weight / 2**s * smoothness(disp, colour)
        results.append((s, scale_terms, {f"automask/{s}": mask}))
    return results


def _scale_groups(cfg: LossConfig) -> list[tuple[int, ...]]:
    """Scales whose per-pixel terms are computed in one pass, stacked on the batch axis: ``cfg.scales_per_pass``
    consecutive scales when every scale is compared at full resolution (``"upsample"``: one warp, one photometric
    error, one cycle check per pass instead of per scale), else one scale per pass (``"pyramid"``: sizes differ)."""
    size = cfg.scales_per_pass if cfg.multiscale == "upsample" else 1
    return [cfg.scales[i:i + size] for i in range(0, len(cfg.scales), size)]


class _WarpedScales(NamedTuple):
    """The per-pixel photometric terms of a group of ``n`` scales, stacked scale-major on the batch axis
    (``n*B``): the group's ``views`` (of one batch, ``B``), ``depth`` ``[n*B,V,1,h,w]`` at the group's size, ``pix``
    ``[F,n*B,h,w,2]`` and ``depth_in_source`` ``[F,n*B,1,h,w]`` of the centre frame, ``reprojection`` and
    auto-``mask`` ``[n*B,1,h,w]``."""

    views: _Views
    depth: torch.Tensor
    pix: torch.Tensor
    depth_in_source: torch.Tensor
    reprojection: torch.Tensor
    mask: torch.Tensor


def _warp_scales(inputs: dict, disps: list[torch.Tensor], group: tuple[int, ...], cfg: LossConfig,
                 full_views: _Views, T: torch.Tensor) -> _WarpedScales:
    """Depth of every scale of ``group`` (``disps``: ``[B,V,1,h_s,w_s]`` each) at the group's size, the centre
    frame reprojected into the sources with it (``T``: ``[F,B,4,4]``), the reprojection error and the auto-mask."""
    n, (b, v) = len(group), disps[0].shape[:2]
    views = _loss_views(inputs, group[0], cfg, full_views)
    size = views.target.shape[-2:]
    loss_disp = torch.cat([_upsample(d.flatten(0, 1), size) for d in disps]).unflatten(0, (n * b, v))
    depth = disp_to_depth(loss_disp, cfg.min_depth, cfg.max_depth)[1]
    pix, depth_in_source, warped = _synthesise(depth[:, 0], views.sources.repeat(1, n, 1, 1, 1),
                                               views.K.repeat(n, 1, 1), views.inv_K.repeat(n, 1, 1),
                                               T.repeat(1, n, 1, 1), cfg.align_corners)
    reprojection = reprojection_terms(warped, views.target, cfg.ssim_weight, cfg.source_reduction)
    identity = views.identity.repeat(n, 1, 1, 1)
    mask = automask(reprojection, identity) if cfg.use_automask else torch.ones_like(reprojection)
    return _WarpedScales(views, depth, pix, depth_in_source, reprojection, mask)


def _geometric_maps(warped: _WarpedScales, n: int, T_to_centre: torch.Tensor | None, cfg: LossConfig):
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
    return consistency, cycle_mask(errors.unflatten(1, (n, -1)), cfg.cycle_keep).flatten(1, 2)


def _per_copy(images: torch.Tensor, b: int, dim: int = 0) -> torch.Tensor:
    """``images`` with ``k*b`` images on axis ``dim`` split into ``k`` copies of a batch of ``b`` (``[..., k, b,
    ...]``), so that the batch's target broadcasts against every copy."""
    if images.shape[dim] % b:
        raise ValueError(f"expected copies of a batch of {b} images on axis {dim}, got {tuple(images.shape)}")
    return images.unflatten(dim, (-1, b))


def _chunks(tensor: torch.Tensor | None, n: int, dim: int = 0) -> list[torch.Tensor | None]:
    """``tensor`` split into the ``n`` scales of a group along ``dim``, or ``n`` Nones."""
    return [None] * n if tensor is None else list(tensor.chunk(n, dim))


def _synthesise(centre_depth, sources, K, inv_K, T, align_corners):
    """Reproject the centre frame into every source and sample the sources there (one ``grid_sample``)."""
    pix, depth_in_source = reproject(centre_depth, K, inv_K, T)
    warped = warp_frame(sources.flatten(0, 1), pix.flatten(0, 1), "border", align_corners)
    return pix, depth_in_source, warped.unflatten(0, sources.shape[:2])


def _upsample(disp: torch.Tensor, size) -> torch.Tensor:
    if tuple(disp.shape[-2:]) == tuple(size):
        return disp
    return F.interpolate(disp, size=tuple(size), mode="bilinear", align_corners=False)


def _check_frames(inputs: dict, views: int) -> torch.Tensor:
    frames = inputs.get("color_0")
    if frames is None or frames.dim() != 5 or frames.shape[1] != views or frames.shape[2] != 3:
        got = None if frames is None else tuple(frames.shape)
        raise ValueError(f"inputs['color_0']: expected [B,{views},3,H,W] frames in the order [0, -1, 1], got {got}")
    return frames


class _Views(NamedTuple):
    """What one scale's loss warps and compares: ``K``, ``inv_K`` ``[B,3,3]`` of the target ``[B,3,h,w]``, the
    sources ``[F,B,3,h,w]`` and their unwarped reprojection error ``identity`` ``[B,1,h,w]``."""

    K: torch.Tensor
    inv_K: torch.Tensor
    target: torch.Tensor
    sources: torch.Tensor
    identity: torch.Tensor


def _views(inputs: dict, scale: int, size, cfg: LossConfig) -> _Views:
    """float32 ``color_{scale}`` of size ``size`` split into target and sources, with ``K_{scale}``."""
    frames = _scale_frames(inputs, scale, size)
    b = frames.shape[0]
    intrinsics = []
    for key in (f"K_{scale}", f"inv_K_{scale}"):
        mat = inputs.get(key)
        if mat is None or mat.dim() != 3 or mat.shape[0] != b or mat.shape[-2:] not in ((3, 3), (4, 4)):
            raise ValueError(f"inputs[{key!r}]: expected [B,3,3] with B={b}, got "
                             f"{None if mat is None else tuple(mat.shape)}")
        intrinsics.append(mat[:, :3, :3].float())
    target, sources = frames[:, 0], frames[:, 1:].transpose(0, 1)
    identity = reprojection_terms(sources, target, cfg.ssim_weight, cfg.source_reduction)
    return _Views(intrinsics[0], intrinsics[1], target, sources, identity)


def _loss_views(inputs: dict, scale: int, cfg: LossConfig, full_views: _Views) -> _Views:
    """The views of scale ``scale``: the full-resolution ones, or the pyramid level's (``multiscale``)."""
    if cfg.multiscale == "upsample" or scale == 0:
        return full_views
    h, w = full_views.target.shape[-2:]
    return _views(inputs, scale, (h >> scale, w >> scale), cfg)


def _transforms(poses: dict, b: int) -> torch.Tensor:
    """float32 source transforms ``T_{0->f}`` stacked ``[F,B,4,4]`` in ``SOURCE_FRAMES`` order."""
    transforms = []
    for frame in SOURCE_FRAMES:
        pose = poses.get(frame)
        if pose is None or tuple(pose.shape) != (b, 4, 4):
            raise ValueError(f"poses[{frame}]: expected T_{{0->{frame}}} of shape [{b},4,4], got "
                             f"{None if pose is None else tuple(pose.shape)}")
        transforms.append(pose.float())
    return torch.stack(transforms)


def _downsample(depth: torch.Tensor, size) -> torch.Tensor:
    if tuple(depth.shape[-2:]) == tuple(size):
        return depth
    return F.interpolate(depth, size=tuple(size), mode="area")


def _scale_disp(outputs: dict, scale: int, shape) -> torch.Tensor:
    disps = outputs.get("disp")
    if disps is None or scale >= len(disps) or tuple(disps[scale].shape) != tuple(shape):
        got = None if disps is None or scale >= len(disps) else tuple(disps[scale].shape)
        raise ValueError(f"outputs['disp'][{scale}]: expected shape {list(shape)}, got {got}")
    return disps[scale].float()


def _coarse_disp(outputs: dict, leading) -> torch.Tensor:
    coarse = outputs.get("coarse_disp")
    if coarse is None or coarse.dim() != 5 or tuple(coarse.shape[:3]) != tuple(leading):
        raise ValueError(f"outputs['coarse_disp']: expected [{', '.join(map(str, leading))},h,w], got "
                         f"{None if coarse is None else tuple(coarse.shape)}")
    return coarse.float()


def _scale_frames(inputs: dict, scale: int, size) -> torch.Tensor:
    """float32 ``color_{scale}`` ``[B,3,3,h,w]`` (frames ``[0, -1, 1]``), checked against ``size = (h, w)``."""
    colour = inputs.get(f"color_{scale}")
    if colour is None or colour.dim() != 5 or colour.shape[1:3] != (3, 3) or tuple(colour.shape[-2:]) != tuple(size):
        raise ValueError(f"inputs['color_{scale}']: expected [B,3,3,{size[0]},{size[1]}], got "
                         f"{None if colour is None else tuple(colour.shape)}")
    return colour.float()


def _teacher_depth(teacher_disp, cfg: LossConfig, epoch: int, shape) -> torch.Tensor | None:
    if not cfg.motion_active(epoch):
        return None
    if teacher_disp is None or tuple(teacher_disp.shape) != tuple(shape):
        raise ValueError(f"teacher_disp: expected the teacher's sigmoid disparity {list(shape)} at epoch {epoch} "
                         f"(motion epochs {cfg.motion_epochs}), got "
                         f"{None if teacher_disp is None else tuple(teacher_disp.shape)}")
    return disp_to_depth(teacher_disp.detach().float(), cfg.min_depth, cfg.max_depth)[1]
