"""Weights and switches of the self-supervised objectives (defaults: the TC-Depth reference, spec 4.6-4.8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tcdepth.config import ConfigError


@dataclass
class LossConfig:
    """Settings of :func:`tcdepth.losses.tcdepth_loss` and :func:`tcdepth.losses.monodepth2_loss`.

    Attributes:
        scales: decoder scales that get a loss (``s`` means resolution ``H/2^s``).
        multiscale: where the loss of scale ``s`` is computed. ``"upsample"`` (Monodepth2, the reference): the
            disparity of every scale is upsampled to ``H x W`` and warps the full-resolution frames.
            ``"pyramid"`` (SfMLearner, Monodepth1): at ``H/2^s x W/2^s`` on the image pyramid (``color_{s}``,
            ``K_{s}``); the coarse scales compare blurred, small images, which gives the pose network a smoother
            loss than full-resolution texture does. Every term of a scale (photometric, auto-mask, smoothness,
            geometric, cycle and motion masks, consistency) is then computed at that scale's size; the teacher's
            depth is area-downsampled to it.
        scales_per_pass: with ``"upsample"``, how many scales are warped and compared in one batch (one pass).
            4 (default) computes the four full-resolution scales in one pass, with a quarter of the per-pixel
            kernel launches of one scale per pass (the GPU's eager step is bound by its launches); fewer scales
            per pass keep less memory alive at once. Results do not depend on it.
        recompute: recompute each pass in backward instead of keeping its intermediate maps (activation
            checkpointing): the objective then holds the maps of one pass at a time, for a second forward of
            the objective. Results do not depend on it.
        source_reduction: how the per-pixel photometric errors of the source frames combine, for the warped and
            the unwarped (auto-mask) sources alike: ``"min"`` (Monodepth2's minimum reprojection, the reference)
            or ``"mean"`` (Monodepth2's ``avg_reprojection``, SfMLearner). With forward camera motion the minimum
            has a local optimum that a fresh pose network falls into: a sideways translation, opposite for the
            two sources since ``T_{0->-1}`` is the inverse of the network's output, lets each half of the image
            pick the source whose content moved its way (docs/results.md). The mean has no such optimum.
        ssim_weight: weight of the SSIM dissimilarity in the photometric error (L1 gets ``1 - ssim_weight``).
        smoothness_weight: edge-aware smoothness weight at scale 0 (divided by ``2^s`` at scale ``s``).
        use_automask: Monodepth2 auto-masking (pixels where the unwarped source already matches are ignored).
        automask_noise: standard deviation of the Gaussian noise added to the unwarped error before the auto-mask
            comparison (Monodepth2 and the reference: 1e-5), one draw per scale in scale order; 0 draws none.
        automask_ties: which side an exact tie of the warped and the (noisy) unwarped error goes to:
            ``"identity"`` (the pixel is masked out: warping must do strictly better) or ``"reprojection"`` (the
            reference's argmin over ``(r, r_id)``, which returns the first of equal values: the pixel is kept).
        photometric_normalisation: of the TC-Depth objective: ``"masked_mean"`` (TC-Depth/ManyDepth: sum of
            masked error over the mask count; the default, None) or ``"min_mean"`` (Monodepth2: mean over all
            pixels of ``min(r, r_id)``). The Monodepth2 objective always uses ``"min_mean"``.
        use_geometric: the geometric consistency loss between warped and interpolated depth.
        geometric_weight: its weight.
        use_cycle_mask: mask the geometric loss by the photometric forward-backward cycle error.
        cycle_keep: fraction of pixels (lowest cycle error, whole batch) the cycle mask keeps.
        cycle_mask_ties: pixels whose cycle error equals the threshold: ``"keep"`` (weight 1) or ``"soft"`` (the
            reference: weight ``1 - error``, computed as the reference does, on ``1 - error`` and its
            ``1 - cycle_keep`` quantile).
        use_motion_loss: teacher motion mask and consistency loss (inside ``motion_epochs``).
        motion_ratio: a pixel is static where ``max(D_s/D_T, D_T/D_s) < motion_ratio``.
        motion_mask_form: how that test is written: ``"ratio"`` (as above) or ``"relative"`` (the reference:
            ``(D_s - D_T)/D_T < motion_ratio - 1`` and ``(D_T - D_s)/D_s < motion_ratio - 1``); the two differ
            only by rounding at the threshold.
        motion_epochs: first and last epoch (0-based, inclusive) of motion masking.
        motion_gating: what the motion mask removes: ``"geometric"`` (reference: only the geometric loss) or
            ``"photometric"`` (ManyDepth style: the photometric and the geometric loss).
        consistency_weight: weight of the consistency loss against the teacher.
        reference_weight: weight of the coarse (reference decoder) self-distillation loss.
        min_depth, max_depth: depth range of ``disp_to_depth`` and of the depth clamps.
        align_corners: sampling convention of every warp (colour and depth alike).
        reference_align_corners_bug: reproduce the reference's depth sampling (grid built for
            ``align_corners=True``, sampled with ``False``: up to half a pixel off).
    """

    scales: tuple[int, ...] = (0, 1, 2, 3)
    multiscale: Literal["upsample", "pyramid"] = "upsample"
    scales_per_pass: int = 4
    recompute: bool = False
    source_reduction: Literal["min", "mean"] = "min"
    ssim_weight: float = 0.85
    smoothness_weight: float = 1e-3
    use_automask: bool = True
    automask_noise: float = 1e-5
    automask_ties: Literal["identity", "reprojection"] = "identity"
    photometric_normalisation: Literal["masked_mean", "min_mean"] | None = None
    use_geometric: bool = True
    geometric_weight: float = 0.1
    use_cycle_mask: bool = True
    cycle_keep: float = 0.7
    cycle_mask_ties: Literal["keep", "soft"] = "keep"
    use_motion_loss: bool = True
    motion_ratio: float = 1.6
    motion_mask_form: Literal["ratio", "relative"] = "ratio"
    motion_epochs: tuple[int, int] = (0, 19)
    motion_gating: Literal["geometric", "photometric"] = "geometric"
    consistency_weight: float = 1.0
    reference_weight: float = 1.0
    min_depth: float = 0.1
    max_depth: float = 100.0
    align_corners: bool = True
    reference_align_corners_bug: bool = False

    def __post_init__(self) -> None:
        def fail(field: str, expected: str) -> None:
            raise ConfigError(f"LossConfig.{field}: expected {expected}, got {getattr(self, field)!r}")

        self.scales = tuple(self.scales)
        self.motion_epochs = tuple(self.motion_epochs)
        if not self.scales or any(s < 0 for s in self.scales) or len(set(self.scales)) != len(self.scales):
            fail("scales", "a non-empty list of distinct non-negative integers")
        if self.multiscale not in ("upsample", "pyramid"):
            fail("multiscale", "'upsample' or 'pyramid'")
        if self.scales_per_pass < 1:
            fail("scales_per_pass", "a positive number of scales")
        if self.source_reduction not in ("min", "mean"):
            fail("source_reduction", "'min' or 'mean'")
        if not 0.0 <= self.ssim_weight <= 1.0:
            fail("ssim_weight", "a value in [0, 1]")
        if self.automask_ties not in ("identity", "reprojection"):
            fail("automask_ties", "'identity' or 'reprojection'")
        if self.cycle_mask_ties not in ("keep", "soft"):
            fail("cycle_mask_ties", "'keep' or 'soft'")
        if self.motion_mask_form not in ("ratio", "relative"):
            fail("motion_mask_form", "'ratio' or 'relative'")
        if self.automask_noise < 0:
            fail("automask_noise", "a non-negative standard deviation")
        for field in ("smoothness_weight", "geometric_weight", "consistency_weight", "reference_weight"):
            if getattr(self, field) < 0:
                fail(field, "a non-negative weight")
        if self.photometric_normalisation not in (None, "masked_mean", "min_mean"):
            fail("photometric_normalisation", "'masked_mean' or 'min_mean'")
        if self.motion_gating not in ("geometric", "photometric"):
            fail("motion_gating", "'geometric' or 'photometric'")
        if not 0.0 < self.cycle_keep < 1.0:
            fail("cycle_keep", "a fraction in (0, 1)")
        if self.motion_ratio <= 1.0:
            fail("motion_ratio", "a ratio > 1")
        if len(self.motion_epochs) != 2 or not 0 <= self.motion_epochs[0] <= self.motion_epochs[1]:
            fail("motion_epochs", "(first, last) with 0 <= first <= last")
        if not 0.0 < self.min_depth < self.max_depth:
            fail("max_depth" if self.min_depth > 0 else "min_depth", "0 < min_depth < max_depth")

    def motion_active(self, epoch: int) -> bool:
        """Whether the teacher's motion mask and consistency loss apply at ``epoch`` (the teacher is needed)."""
        first, last = self.motion_epochs
        return self.use_motion_loss and first <= epoch <= last
