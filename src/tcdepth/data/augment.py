"""Training augmentation: horizontal flip and colour jitter, deterministic given a ``torch.Generator``.

A flip is applied to all frames of a sample together (and to their intrinsics, ``cx' = W - 1 - cx``). The colour
jitter (brightness, contrast, saturation, hue, applied in that order, as Monodepth2's torchvision ``ColorJitter``
ranges) uses one set of parameters for all frames of a sample unless ``per_frame_jitter`` is set. Jittered frames
are the network input only; the losses use the raw frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from kornia.color import hsv_to_rgb, rgb_to_grayscale, rgb_to_hsv


@dataclass(frozen=True)
class AugmentSettings:
    """Probabilities and ranges; factors are drawn uniformly in ``[1 - r, 1 + r]``, the hue shift in ``[-h, h]``
    (fraction of the colour circle)."""

    flip_prob: float = 0.5
    jitter_prob: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.1
    per_frame_jitter: bool = False

    def __post_init__(self):
        for name in ("flip_prob", "jitter_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        for name in ("brightness", "contrast", "saturation"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        if not 0.0 <= self.hue <= 0.5:
            raise ValueError(f"hue must be in [0, 0.5], got {self.hue}")


NO_AUGMENTATION = AugmentSettings(flip_prob=0.0, jitter_prob=0.0)


@dataclass(frozen=True)
class JitterParams:
    """One colour transform: multiplicative factors (1 = unchanged) and a hue shift (fraction of the circle)."""

    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    hue: float = 0.0


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def sample_jitter_params(settings: AugmentSettings, generator: torch.Generator) -> JitterParams:
    """Draw one :class:`JitterParams` from the ranges of ``settings``."""
    return JitterParams(
        brightness=_uniform(generator, 1 - settings.brightness, 1 + settings.brightness),
        contrast=_uniform(generator, 1 - settings.contrast, 1 + settings.contrast),
        saturation=_uniform(generator, 1 - settings.saturation, 1 + settings.saturation),
        hue=_uniform(generator, -settings.hue, settings.hue),
    )


def apply_color_jitter(images: torch.Tensor, params: JitterParams) -> torch.Tensor:
    """Colour-jitter ``images`` ``[N,3,H,W]`` in ``[0, 1]`` with one parameter set; returns ``[N,3,H,W]``.

    brightness: ``x * b``; contrast: blend with the image's mean grey level, ``m + c (x - m)``; saturation: blend
    with the per-pixel grey, ``g + s (x - g)``; hue: rotate the HSV hue by ``hue * 2 pi``. Clamped after each step.
    """
    out = (images * params.brightness).clamp(0.0, 1.0)
    mean_grey = rgb_to_grayscale(out).mean(dim=(1, 2, 3), keepdim=True)
    out = (mean_grey + params.contrast * (out - mean_grey)).clamp(0.0, 1.0)
    grey = rgb_to_grayscale(out)
    out = (grey + params.saturation * (out - grey)).clamp(0.0, 1.0)
    if params.hue != 0.0:
        hsv = rgb_to_hsv(out)
        hue = torch.remainder(hsv[:, :1] + params.hue * 2 * math.pi, 2 * math.pi)
        out = hsv_to_rgb(torch.cat([hue, hsv[:, 1:]], dim=1)).clamp(0.0, 1.0)
    return out


@dataclass(frozen=True)
class AugmentDecision:
    """The random choices for one sample: whether it is flipped and the jitter per frame (None = no jitter)."""

    flip: bool
    jitter: tuple[JitterParams, ...] | None


def draw_augmentation(settings: AugmentSettings, num_frames: int, generator: torch.Generator) -> AugmentDecision:
    """Draw the flip and jitter of a sample of ``num_frames`` frames (always the same number of draws)."""
    flip = float(torch.rand((), generator=generator)) < settings.flip_prob
    jitter_on = float(torch.rand((), generator=generator)) < settings.jitter_prob
    if settings.per_frame_jitter:
        params = tuple(sample_jitter_params(settings, generator) for _ in range(num_frames))
    else:
        params = (sample_jitter_params(settings, generator),) * num_frames
    return AugmentDecision(flip=flip, jitter=params if jitter_on else None)


def jitter_frames(frames: torch.Tensor, decision: AugmentDecision) -> torch.Tensor:
    """Apply the decision's jitter to ``frames`` ``[V,3,H,W]`` (frame ``i`` gets ``decision.jitter[i]``)."""
    if decision.jitter is None:
        return frames.clone()
    if len(decision.jitter) != frames.shape[0]:
        raise ValueError(f"{len(decision.jitter)} jitter parameter sets for {frames.shape[0]} frames")
    if len(set(decision.jitter)) == 1:
        return apply_color_jitter(frames, decision.jitter[0])
    return torch.cat([apply_color_jitter(f[None], p) for f, p in zip(frames, decision.jitter, strict=True)], dim=0)
