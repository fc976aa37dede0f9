"""Edge-aware disparity smoothness (Monodepth2)."""

from __future__ import annotations

import torch


def smoothness(disp: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
    """Edge-aware smoothness of the mean-normalised disparity.

    ``d = disp / mean(disp)`` per image; the loss is ``mean(|dx d| exp(-mean_c |dx img|)) +
    mean(|dy d| exp(-mean_c |dy img|))`` with forward differences.

    Args:
        disp: ``[B,1,H,W]``.
        img: ``[B,C,H,W]`` at the resolution of ``disp``.
    Returns:
        scalar.
    """
    if disp.shape[-2:] != img.shape[-2:]:
        raise ValueError(f"disp {tuple(disp.shape)} and img {tuple(img.shape)} must have the same H, W")
    norm = disp / (disp.mean(dim=(2, 3), keepdim=True) + 1e-7)
    grad_disp_x = (norm[..., :, :-1] - norm[..., :, 1:]).abs()
    grad_disp_y = (norm[..., :-1, :] - norm[..., 1:, :]).abs()
    grad_img_x = (img[..., :, :-1] - img[..., :, 1:]).abs().mean(1, keepdim=True)
    grad_img_y = (img[..., :-1, :] - img[..., 1:, :]).abs().mean(1, keepdim=True)
    return (grad_disp_x * torch.exp(-grad_img_x)).mean() + (grad_disp_y * torch.exp(-grad_img_y)).mean()
