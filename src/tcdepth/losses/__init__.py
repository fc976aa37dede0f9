"""Self-supervised losses: photometric, smoothness, geometric, motion and reference terms, and the composed
objectives (:mod:`tcdepth.losses.objective`) built on the multiscale engine (:mod:`tcdepth.losses.passes`)."""

from tcdepth.losses.config import LossConfig
from tcdepth.losses.geometric import cycle_error, cycle_mask, geometric_consistency, geometric_term
from tcdepth.losses.motion import consistency_term, motion_mask
from tcdepth.losses.objective import LossResult, monodepth2_loss, tcdepth_loss
from tcdepth.losses.photometric import automask, photometric_error, photometric_term, reprojection_terms, ssim
from tcdepth.losses.reference import reference_term
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
