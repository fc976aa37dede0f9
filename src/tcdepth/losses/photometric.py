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
    ``C2 = 0.03^2``.

    Args:
        x, y: ``[B,C,H,W]`` images in [0, 1].
    Returns:
        ``[B,C,H,W]``, 0 where the windows are identical.
    """
    x = F.pad(x, (1, 1, 1, 1), mode="reflect")
    y = F.pad(y, (1, 1, 1, 1), mode="reflect")
    mu_x = F.avg_pool2d(x, 3, 1)
    mu_y = F.avg_pool2d(y, 3, 1)
    sigma_x = F.avg_pool2d(x * x, 3, 1) - mu_x**2
    sigma_y = F.avg_pool2d(y * y, 3, 1) - mu_y**2
    sigma_xy = F.avg_pool2d(x * y, 3, 1) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + SSIM_C1) * (2 * sigma_xy + SSIM_C2)
    denominator = (mu_x**2 + mu_y**2 + SSIM_C1) * (sigma_x + sigma_y + SSIM_C2)
    return torch.clamp((1 - numerator / denominator) / 2, 0, 1)


def photometric_error(pred: torch.Tensor, target: torch.Tensor, ssim_weight: float = 0.85) -> torch.Tensor:
    """Per-pixel ``ssim_weight * ssim + (1 - ssim_weight) * |pred - target|``, averaged over channels.

    When a gradient is needed the error is recomputed in backward (``torch.utils.checkpoint``, identical result):
    autograd then keeps the two images instead of about twenty full-resolution SSIM intermediates.

    Args:
        pred, target: ``[B,C,H,W]``.
    Returns:
        ``[B,1,H,W]``.
    """
    if torch.is_grad_enabled() and (pred.requires_grad or target.requires_grad):
        return checkpoint(_photometric_error, pred, target, ssim_weight, use_reentrant=False)
    return _photometric_error(pred, target, ssim_weight)


def _photometric_error(pred: torch.Tensor, target: torch.Tensor, ssim_weight: float) -> torch.Tensor:
    l1 = (pred - target).abs().mean(1, keepdim=True)
    if ssim_weight == 0:
        return l1
    return ssim_weight * ssim(pred, target).mean(1, keepdim=True) + (1 - ssim_weight) * l1
