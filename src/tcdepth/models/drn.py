"""Dilated residual networks (Yu et al., CVPR 2017), arch C and D, as output-stride-8 depth encoders.

Module names follow the public ``fyu/drn`` implementation (``conv1``/``bn1``/``layer1``.. for arch C,
``layer0``..``layer8`` for arch D) so that its ImageNet checkpoints load by name. The classifier is not built.
"""

from __future__ import annotations

import torch
from torch import nn

from tcdepth.models.layers import normalize_image, scaled_channels

DRN_CHANNELS = (16, 32, 64, 128, 256, 512, 512, 512)


class DRNBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 dilation: tuple[int, int] = (1, 1), residual: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, padding=dilation[0], dilation=dilation[0], bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=dilation[1], dilation=dilation[1], bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class DRNBottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 dilation: tuple[int, int] = (1, 1), residual: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=dilation[1], dilation=dilation[1], bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class DRNEncoder(nn.Module):
    """DRN trunk returning ``[skip@1/2, skip@1/4, skip@1/8, ctx@1/8]`` for images ``[B,3,H,W]`` in ``[0, 1]``.

    Args:
        arch: ``"C"`` (BasicBlocks, residual degridding layers 7-8) or ``"D"`` (conv stem, Bottlenecks, plain
            degridding convs).
        layers: blocks (C) or convs (D) per stage 1..8, e.g. ``(1, 1, 2, 2, 2, 2, 1, 1)`` for DRN-C-26.
        channels: widths of stages 1..8 (``DRN_CHANNELS`` scaled by ``width`` for the tiny variant).
    """

    def __init__(self, arch: str, layers: tuple[int, ...], channels: tuple[int, ...] = DRN_CHANNELS):
        super().__init__()
        if arch not in ("C", "D") or len(layers) != 8 or len(channels) != 8:
            raise ValueError(f"DRN needs arch C or D and 8 stages, got arch={arch!r}, layers={layers}")
        self.arch = arch
        block = DRNBasicBlock if arch == "C" else DRNBottleneck
        self.inplanes = channels[0]
        if arch == "C":
            self.conv1 = nn.Conv2d(3, channels[0], 7, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(channels[0])
            self.relu = nn.ReLU(inplace=True)
            self.layer1 = self._make_layer(DRNBasicBlock, channels[0], layers[0])
            self.layer2 = self._make_layer(DRNBasicBlock, channels[1], layers[1], stride=2)
        else:
            self.layer0 = nn.Sequential(nn.Conv2d(3, channels[0], 7, padding=3, bias=False),
                                        nn.BatchNorm2d(channels[0]), nn.ReLU(inplace=True))
            self.layer1 = self._make_conv_layers(channels[0], layers[0])
            self.layer2 = self._make_conv_layers(channels[1], layers[1], stride=2)
        skip2 = self.inplanes
        self.layer3 = self._make_layer(block, channels[2], layers[2], stride=2)
        skip4 = self.inplanes
        self.layer4 = self._make_layer(block, channels[3], layers[3], stride=2)
        skip8 = self.inplanes
        self.layer5 = self._make_layer(block, channels[4], layers[4], dilation=2, new_level=False)
        self.layer6 = self._make_layer(block, channels[5], layers[5], dilation=4, new_level=False)
        if arch == "C":
            self.layer7 = self._make_layer(DRNBasicBlock, channels[6], layers[6], dilation=2, new_level=False,
                                           residual=False)
            self.layer8 = self._make_layer(DRNBasicBlock, channels[7], layers[7], dilation=1, new_level=False,
                                           residual=False)
        else:
            self.layer7 = self._make_conv_layers(channels[6], layers[6], dilation=2)
            self.layer8 = self._make_conv_layers(channels[7], layers[7], dilation=1)
        self.num_ch_skips = (skip2, skip4, skip8)
        self.num_ch_ctx = self.inplanes
        del self.inplanes

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1, dilation: int = 1,
                    new_level: bool = True, residual: bool = True) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion))
        first_dilation = (1, 1) if dilation == 1 else (dilation // 2 if new_level else dilation, dilation)
        modules = [block(self.inplanes, planes, stride, downsample, dilation=first_dilation, residual=residual)]
        self.inplanes = planes * block.expansion
        modules += [block(self.inplanes, planes, residual=residual, dilation=(dilation, dilation))
                    for _ in range(1, blocks)]
        return nn.Sequential(*modules)

    def _make_conv_layers(self, channels: int, convs: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
        modules: list[nn.Module] = []
        for i in range(convs):
            modules += [nn.Conv2d(self.inplanes, channels, 3, stride=stride if i == 0 else 1, padding=dilation,
                                  dilation=dilation, bias=False),
                        nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
            self.inplanes = channels
        return nn.Sequential(*modules)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = normalize_image(images)
        x = self.relu(self.bn1(self.conv1(x))) if self.arch == "C" else self.layer0(x)
        x = self.layer1(x)
        skip2 = self.layer2(x)
        skip4 = self.layer3(skip2)
        skip8 = self.layer4(skip4)
        x = self.layer6(self.layer5(skip8))
        ctx = self.layer8(self.layer7(x))
        return [skip2, skip4, skip8, ctx]


def drn_c_26(width: float = 1.0) -> DRNEncoder:
    """DRN-C-26; ``width < 1`` scales every stage width (the "tiny" CPU variant), at least 4 channels each."""
    channels = tuple(scaled_channels(c, width) for c in DRN_CHANNELS)
    return DRNEncoder("C", (1, 1, 2, 2, 2, 2, 1, 1), channels)


def drn_d_54() -> DRNEncoder:
    """DRN-D-54: skips 32@1/2, 256@1/4, 512@1/8, ctx 512@1/8."""
    return DRNEncoder("D", (1, 1, 3, 4, 6, 3, 1, 1))
