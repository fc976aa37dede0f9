"""Photometric error of Monodepth2: SSIM dissimilarity and L1."""

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
    """Mean over the 3x3 window around each pixel of ``[...,C,H,W]`` images, reflection-padded (same shape)."""
    flat = images.reshape(-1, *images.shape[-3:])
    return F.avg_pool2d(F.pad(flat, (1, 1, 1, 1), mode="reflect"), 3, 1).reshape(images.shape)


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
