"""Depth decoders: the multi-scale sigmoid-disparity decoder and the reference (DDV-style) coarse decoder."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from tcdepth.models.layers import Conv3x3, ConvBlock, scaled_channels


@dataclass(frozen=True)
class DecoderStage:
    """One decoder stage: ``ConvBlock(in -> out)``, optional x2 upsampling, concat of ``features[skip]``,
    ``ConvBlock(out + skip -> out)``."""

    out_channels: int
    upsample: bool
    skip: int | None


class DepthDecoder(nn.Module):
    """U-Net decoder giving sigmoid disparities at 4 scales (finest = scale 0) from an encoder feature list.

    Build it with :meth:`for_tcdepth` (TC-Depth: 1/8 context + skips at 1/8, 1/4, 1/2, bilinear) or
    :meth:`for_monodepth2` (the five ResNet features, nearest upsampling). The last four stages carry disparity
    heads, coarsest first.
    """

    def __init__(self, in_channels: int, skip_channels: tuple[int, ...], stages: tuple[DecoderStage, ...],
                 upsample_mode: str = "bilinear", recompute_stages: int = 1):
        super().__init__()
        if upsample_mode not in ("bilinear", "nearest"):
            raise ValueError(f"upsample_mode must be 'bilinear' or 'nearest', got {upsample_mode!r}")
        if recompute_stages < 0:
            raise ValueError(f"recompute_stages must be >= 0, got {recompute_stages}")
        self.stages = stages
        self.upsample_mode = upsample_mode
        self.recompute_stages = recompute_stages
        self.pre = nn.ModuleList()
        self.post = nn.ModuleList()
        ch = in_channels
        for stage in stages:
            self.pre.append(ConvBlock(ch, stage.out_channels))
            skip_ch = 0 if stage.skip is None else skip_channels[stage.skip]
            self.post.append(ConvBlock(stage.out_channels + skip_ch, stage.out_channels))
            ch = stage.out_channels
        self.disp_heads = nn.ModuleList(Conv3x3(s.out_channels, 1) for s in stages[-4:])

    @classmethod
    def for_tcdepth(cls, skip_channels: tuple[int, int, int], ctx_channels: int,
                    upsample_mode: str = "bilinear", width: float = 1.0, recompute_stages: int = 1) -> DepthDecoder:
        """Decoder of TC-Depth on ``[skip@1/2, skip@1/4, skip@1/8, fused ctx@1/8]`` (spec 1.4).

        ``width`` scales the stage widths 128, 64, 32, 16 (:func:`scaled_channels`; 1.0 is the paper's decoder).
        """
        stages = tuple(DecoderStage(scaled_channels(channels, width), upsample, skip) for channels, upsample, skip
                       in ((128, False, 2), (64, True, 1), (32, True, 0), (16, True, None)))
        return cls(ctx_channels, skip_channels, stages, upsample_mode, recompute_stages)

    @classmethod
    def for_monodepth2(cls, num_ch_enc: tuple[int, ...], upsample_mode: str = "nearest",
                       recompute_stages: int = 1) -> DepthDecoder:
        """Monodepth2's decoder on the five ResNet features (1/2 .. 1/32)."""
        stages = (DecoderStage(256, True, 3), DecoderStage(128, True, 2), DecoderStage(64, True, 1),
                  DecoderStage(32, True, 0), DecoderStage(16, True, None))
        return cls(num_ch_enc[-1], tuple(num_ch_enc[:-1]), stages, upsample_mode, recompute_stages)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """``features``: the skips in the order the stages index them, then the deepest feature last.

        In training, the last ``recompute_stages`` stages (finest first; default: the full-resolution one) are
        recomputed in backward instead of keeping their activations (``torch.utils.checkpoint``; the stages have
        no batch norm, so the result is identical): memory for a second forward of those stages.

        Returns:
            disparities ``[B,1,H/2^s,W/2^s]`` for s = 0..3 (finest first), in ``(0, 1)``.
        """
        x = features[-1]
        disps = []
        first_recomputed = len(self.stages) - self.recompute_stages
        for index in range(len(self.stages)):
            if index >= first_recomputed and self.training and torch.is_grad_enabled():
                x, disp = checkpoint(self._stage, index, x, features, use_reentrant=False)
            else:
                x, disp = self._stage(index, x, features)
            if disp is not None:
                disps.append(disp)
        return disps[::-1]

    def _stage(self, index: int, x: torch.Tensor, features: list[torch.Tensor]):
        """Stage ``index`` on ``x``: ``(its output, its disparity or None)``."""
        stage = self.stages[index]
        x = self.pre[index](x)
        if stage.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode=self.upsample_mode,
                              align_corners=False if self.upsample_mode == "bilinear" else None)
        if stage.skip is not None:
            x = torch.cat([x, features[stage.skip]], dim=1)
        x = self.post[index](x)
        head = index - (len(self.stages) - 4)
        return x, torch.sigmoid(self.disp_heads[head](x)) if head >= 0 else None


class ReferenceDecoder(nn.Module):
    """Coarse disparity from the (detached) context feature: ``ConvBlock(C -> hidden)``, ``Conv3x3(hidden -> bins)``
    logits -> softmax -> expected disparity bin. ``hidden`` is 256 scaled by ``width`` (:func:`scaled_channels`;
    the paper: width 1, 256 bins).

    The bins are spaced uniformly in scaled disparity on ``[1/max_depth, 1/min_depth]`` (``[0.01, 10]``). The input
    is detached here, so this head learns only from a loss on its own output.
    """

    def __init__(self, in_channels: int, num_bins: int = 256, min_depth: float = 0.1, max_depth: float = 100.0,
                 width: float = 1.0):
        super().__init__()
        hidden_channels = scaled_channels(256, width)
        self.block = ConvBlock(in_channels, hidden_channels)
        self.logits = Conv3x3(hidden_channels, num_bins)
        self.register_buffer("bins", torch.linspace(1.0 / max_depth, 1.0 / min_depth, num_bins).view(1, -1, 1, 1),
                             persistent=False)

    def forward(self, ctx: torch.Tensor) -> torch.Tensor:
        """``ctx [B,C,h,w]`` -> scaled disparity ``[B,1,h,w]`` in ``[1/max_depth, 1/min_depth]``."""
        probs = torch.softmax(self.logits(self.block(ctx.detach())), dim=1)
        return (probs * self.bins).sum(dim=1, keepdim=True)
