"""Small building blocks shared by the networks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

IMAGE_MEAN = 0.45
IMAGE_STD = 0.225


def normalize_image(images: torch.Tensor) -> torch.Tensor:
    """Encoder input normalisation of Monodepth2 and TC-Depth: ``(x - 0.45) / 0.225`` for images in ``[0, 1]``."""
    return (images - IMAGE_MEAN) / IMAGE_STD


def select_views(features: torch.Tensor, views: Sequence[int]) -> torch.Tensor:
    """``features[:, views]`` for ``[B,V,...]``: a slice when the views are consecutive (no copy), else a stack of
    integer-indexed views (a list index would copy it from the host and make the host wait for the GPU)."""
    start = views[0]
    if list(views) == list(range(start, start + len(views))):
        return features[:, start:start + len(views)]
    return torch.stack([features[:, v] for v in views], dim=1)


class Conv3x3(nn.Module):
    """Reflection padding 1 then a 3x3 convolution with bias."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv = nn.Conv2d(in_channels, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


class ConvBlock(nn.Module):
    """``Conv3x3`` followed by ELU (the decoders' unit)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = Conv3x3(in_channels, out_channels)
        self.nonlin = nn.ELU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlin(self.conv(x))


MIN_SCALED_CHANNELS = 4


def scaled_channels(channels: int, width: float) -> int:
    """``channels`` scaled by a width multiplier ``0 < width <= 1``, rounded, at least 4 (``width=1``: unchanged)."""
    if not 0.0 < width <= 1.0:
        raise ValueError(f"width multiplier must be in (0, 1], got {width}")
    return max(MIN_SCALED_CHANNELS, round(channels * width))
