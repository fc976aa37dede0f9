"""ResNet-18/50 encoders written out (module names as in the torchvision releases, so their checkpoints load).

``ResNetEncoder`` is the Monodepth2 encoder: ``num_input_images`` frames stacked on channels (conv1 takes
``3 * n`` channels) and the usual five features at 1/2, 1/4, 1/8, 1/16, 1/32. ``output_stride=8`` replaces the
strides of layer3/layer4 by dilations 2/4 for the TC-Depth path (``ResNetContextEncoder``).
"""

from __future__ import annotations

import torch
from torch import nn

from tcdepth.models.layers import normalize_image


class ResNetBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNetBottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


RESNET_SPECS = {18: (ResNetBasicBlock, (2, 2, 2, 2)), 50: (ResNetBottleneck, (3, 4, 6, 3))}


class ResNetEncoder(nn.Module):
    """ResNet trunk on ``num_input_images`` frames ``[B,3n,H,W]`` in ``[0, 1]`` -> five features.

    Attributes:
        num_ch_enc: widths of the five features (``64, 64, 128, 256, 512`` for ResNet-18).
    """

    def __init__(self, num_layers: int = 18, num_input_images: int = 1, output_stride: int = 32):
        super().__init__()
        if num_layers not in RESNET_SPECS:
            raise ValueError(f"ResNet depth must be one of {sorted(RESNET_SPECS)}, got {num_layers}")
        if output_stride not in (8, 32):
            raise ValueError(f"output_stride must be 8 or 32, got {output_stride}")
        block, blocks = RESNET_SPECS[num_layers]
        self.num_input_images = num_input_images
        self.conv1 = nn.Conv2d(3 * num_input_images, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.inplanes = 64
        dilated = output_stride == 8
        self.layer1 = self._make_layer(block, 64, blocks[0])
        self.layer2 = self._make_layer(block, 128, blocks[1], stride=2)
        self.layer3 = self._make_layer(block, 256, blocks[2], stride=1 if dilated else 2, dilation=2 if dilated else 1)
        self.layer4 = self._make_layer(block, 512, blocks[3], stride=1 if dilated else 2, dilation=4 if dilated else 1)
        del self.inplanes
        e = block.expansion
        self.num_ch_enc = (64, 64 * e, 128 * e, 256 * e, 512 * e)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * block.expansion))
        # The first block of a dilated stage keeps the previous stage's dilation (as in DeepLab/DRN).
        modules = [block(self.inplanes, planes, stride, max(1, dilation // 2), downsample)]
        self.inplanes = planes * block.expansion
        modules += [block(self.inplanes, planes, dilation=dilation) for _ in range(1, blocks)]
        return nn.Sequential(*modules)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        if images.dim() != 4 or images.shape[1] != 3 * self.num_input_images:
            raise ValueError(f"ResNetEncoder expects [B,{3 * self.num_input_images},H,W] "
                             f"({self.num_input_images} RGB frames stacked), got {tuple(images.shape)}")
        f0 = self.relu(self.bn1(self.conv1(normalize_image(images))))
        f1 = self.layer1(self.maxpool(f0))
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        return [f0, f1, f2, f3, self.layer4(f3)]


class ResNetContextEncoder(nn.Module):
    """Output-stride-8 ResNet for the TC-Depth path: ``[f0@1/2, layer1@1/4, layer2@1/8, layer4@1/8]``."""

    def __init__(self, num_layers: int = 18):
        super().__init__()
        self.resnet = ResNetEncoder(num_layers, output_stride=8)
        ch = self.resnet.num_ch_enc
        self.num_ch_skips = (ch[0], ch[1], ch[2])
        self.num_ch_ctx = ch[4]

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        f0, f1, f2, _, f4 = self.resnet(images)
        return [f0, f1, f2, f4]
