"""Self-supervised losses: photometric, smoothness, geometric consistency, and the composed objectives."""

from tcdepth.losses.config import LossConfig
from tcdepth.losses.geometric import cycle_mask, geometric_consistency
from tcdepth.losses.objective import (
    LossResult,
    automask,
    consistency_term,
    cycle_error,
    geometric_term,
    monodepth2_loss,
    motion_mask,
    photometric_term,
    reference_term,
    reprojection_terms,
    tcdepth_loss,
)
from tcdepth.losses.photometric import photometric_error, ssim
from tcdepth.losses.smoothness import smoothness
from tcdepth.losses.warp import misaligned_pixels, reproject, warp_frame

__all__ = [
    "LossConfig",
    "LossResult",
    "automask",
    "consistency_term",
    "cycle_error",
    "cycle_mask",
    "geometric_consistency",
    "geometric_term",
    "misaligned_pixels",
    "monodepth2_loss",
    "motion_mask",
    "photometric_error",
    "photometric_term",
    "reference_term",
    "reprojection_terms",
    "reproject",
    "smoothness",
    "ssim",
    "tcdepth_loss",
    "warp_frame",
]
