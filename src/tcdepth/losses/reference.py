"""The reference (coarse) decoder's self-distillation term of TC-Depth."""

from __future__ import annotations

import torch

from tcdepth.losses.warp import upsample_bilinear


def reference_term(coarse_disp: torch.Tensor, scaled_disp: torch.Tensor) -> torch.Tensor:
    """Self-distillation of the coarse reference decoder: ``mean |up(coarse) - stopgrad(scaled_disp)|``.

    Args:
        coarse_disp: ``[B,V,1,h,w]`` scaled disparity of the reference decoder.
        scaled_disp: ``[B,V,1,H,W]`` scaled disparity of the main decoder at scale 0 (detached here).
    Returns:
        scalar (mean over views and pixels).
    """
    size = scaled_disp.shape[-2:]
    upsampled = upsample_bilinear(coarse_disp.flatten(0, 1), size).unflatten(0, coarse_disp.shape[:2])
    return (upsampled - scaled_disp.detach()).abs().mean()
