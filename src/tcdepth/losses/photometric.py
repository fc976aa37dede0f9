"""Photometric terms: the SSIM + L1 error of Monodepth2, the reprojection error over source frames, the auto-mask
and the photometric loss of one scale."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SSIM dissimilarity ``clamp((1 - SSIM) / 2, 0, 1)`` over 3x3 windows (Monodepth2).

    Local statistics are 3x3 mean pools of the reflection-padded images, with ``C1 = 0.01^2`` and
    ``C2 = 0.03^2``. The images broadcast against each other on their leading axes: a target ``[B,C,H,W]`` compared
    with ``[F,B,C,H,W]`` warped images has its own statistics computed once, not once per copy.

    Args:
        x, y: ``[...,C,H,W]`` images in [0, 1] (leading axes broadcastable).
    Returns:
        ``[...,C,H,W]`` (the broadcast shape), 0 where the windows are identical.
    """
    mu_x = _window_mean(x)
    mu_y = _window_mean(y)
    sigma_x = _window_mean(x * x) - mu_x**2
    sigma_y = _window_mean(y * y) - mu_y**2
    sigma_xy = _window_mean(x * y) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + SSIM_C1) * (2 * sigma_xy + SSIM_C2)
    denominator = (mu_x**2 + mu_y**2 + SSIM_C1) * (sigma_x + sigma_y + SSIM_C2)
    return torch.clamp((1 - numerator / denominator) / 2, 0, 1)


def _window_mean(images: torch.Tensor) -> torch.Tensor:
    """Mean over the 3x3 window around each pixel of ``[...,C,H,W]`` images, reflection-padded (same shape).

    The sums of a 3x3 average pool taken as three shifted rows, then three shifted columns: on a CPU cheaper
    forward and backward than ``avg_pool2d``'s 3x3 kernel (docs/results.md, "Cheaper steps").
    """
    padded = F.pad(images.reshape(-1, *images.shape[-3:]), (1, 1, 1, 1), mode="reflect")
    rows = padded[..., :-2] + padded[..., 1:-1] + padded[..., 2:]
    return ((rows[..., :-2, :] + rows[..., 1:-1, :] + rows[..., 2:, :]) / 9).reshape(images.shape)


def photometric_error(pred: torch.Tensor, target: torch.Tensor, ssim_weight: float = 0.85) -> torch.Tensor:
    """Per-pixel ``ssim_weight * ssim + (1 - ssim_weight) * |pred - target|``, averaged over channels.

    When a gradient is needed the error is recomputed in backward (``torch.utils.checkpoint``, identical result):
    autograd then keeps the two images instead of about twenty full-resolution SSIM intermediates.

    Args:
        pred, target: ``[...,C,H,W]`` with broadcastable leading axes (e.g. warped images ``[F,B,C,H,W]`` and
            their target ``[B,C,H,W]``, whose window statistics are then computed once).
    Returns:
        ``[...,1,H,W]`` (the broadcast leading shape).
    """
    if torch.is_grad_enabled() and (pred.requires_grad or target.requires_grad):
        return checkpoint(_photometric_error, pred, target, ssim_weight, use_reentrant=False)
    return _photometric_error(pred, target, ssim_weight)


def _photometric_error(pred: torch.Tensor, target: torch.Tensor, ssim_weight: float) -> torch.Tensor:
    l1 = (pred - target).abs().mean(-3, keepdim=True)
    if ssim_weight == 0:
        return l1
    return ssim_weight * ssim(pred, target).mean(-3, keepdim=True) + (1 - ssim_weight) * l1


def batch_copies(images: torch.Tensor, b: int, dim: int = 0) -> torch.Tensor:
    """``images`` with ``k*b`` images on axis ``dim`` split into ``k`` copies of a batch of ``b`` (``[..., k, b,
    ...]``), so that the batch's target broadcasts against every copy."""
    if images.shape[dim] % b:
        raise ValueError(f"expected copies of a batch of {b} images on axis {dim}, got {tuple(images.shape)}")
    return images.unflatten(dim, (-1, b))


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
        errors = torch.stack([photometric_error(batch_copies(frame, b), target, ssim_weight).flatten(0, 1)
                              for frame in images])
    else:
        errors = photometric_error(batch_copies(images, b, dim=1), target, ssim_weight).flatten(1, 2)
    if reduction == "min":
        return errors.amin(dim=0)
    if reduction == "mean":
        return errors.mean(dim=0)
    raise ValueError(f"reduction: expected 'min' or 'mean', got {reduction!r}")


def automask(reprojection: torch.Tensor, identity: torch.Tensor, tie_noise: float = 1e-5,
             ties: str = "identity") -> torch.Tensor:
    """Monodepth2 auto-mask: 1 where warping beats the unwarped sources, ``r < r_id + N(0,1) * tie_noise``.

    The noise is one ``randn`` draw of ``identity``'s shape (for a pass of scales stacked on the batch axis, the
    same numbers as one draw per scale in scale order); none with ``tie_noise=0``. ``ties="reprojection"`` keeps a
    pixel whose errors are exactly equal (``r <= r_id + noise``, the reference's argmin over ``(r, r_id)``);
    ``"identity"`` drops it.

    Args:
        reprojection, identity: ``[B,1,H,W]``.
    Returns:
        ``[B,1,H,W]`` of 0/1, detached.
    """
    noisy_identity = identity + torch.randn_like(identity) * tie_noise if tie_noise > 0 else identity
    if ties == "reprojection":
        return (reprojection.detach() <= noisy_identity.detach()).to(reprojection.dtype)
    if ties == "identity":
        return (reprojection.detach() < noisy_identity.detach()).to(reprojection.dtype)
    raise ValueError(f"ties: expected 'identity' or 'reprojection', got {ties!r}")


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
