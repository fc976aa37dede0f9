"""Composed depth networks: ``TCDepth`` (3-frame, spatial-temporal attention) and ``Monodepth2`` (1 frame)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tcdepth.geometry import KITTI_NORMALIZED_K, check_network_size, normalized_to_pixel
from tcdepth.models.attention import SpatialTemporalModule, feature_points
from tcdepth.models.decoders import DepthDecoder, ReferenceDecoder
from tcdepth.models.layers import select_views

NUM_VIEWS = 3
NUM_SKIPS = 3  # encoder skip features at 1/2, 1/4, 1/8 (every TC-Depth encoder)
ALL_VIEWS = (0, 1, 2)
ATTENTION_CAMERAS = ("input", "kitti")


class TCDepth(nn.Module):
    """TC-Depth: shared encoder on the three frames, reference decoder, spatial-temporal module, depth decoder.

    ``attention_camera``: ``"input"`` back-projects the coarse depth with the input's intrinsics, ``"kitti"`` with
    KITTI's normalised intrinsics whatever the input (the reference's behaviour).

    The encoder exposes ``num_ch_skips`` (3 widths) and ``num_ch_ctx`` and returns
    ``[skip@1/2, skip@1/4, skip@1/8, ctx@1/8]``.

    For streaming, call :meth:`encode` and :meth:`frame_context` once per frame, stack the per-frame contexts of a
    triplet along a view axis and call :meth:`decode_from_context` with ``decode_views=(0,)`` to decode only the
    centre frame.
    """

    num_views = NUM_VIEWS  # frames of a sample: centre, previous, next

    def __init__(self, encoder: nn.Module, st_module: SpatialTemporalModule, reference_decoder: ReferenceDecoder,
                 decoder: DepthDecoder, attention_camera: str = "input"):
        super().__init__()
        if attention_camera not in ATTENTION_CAMERAS:
            raise ValueError(f"attention_camera must be one of {ATTENTION_CAMERAS}, got {attention_camera!r}")
        self.attention_camera = attention_camera
        self.encoder = encoder
        self.reference_decoder = reference_decoder
        self.st_module = st_module
        self.decoder = decoder

    def encode(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Per-frame encoder features: ``images [N,3,H,W]`` -> ``[skip2, skip4, skip8, ctx]`` each ``[N,C,.,.]``."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"encode expects images [N,3,H,W], got {tuple(images.shape)}")
        check_network_size(*images.shape[-2:])
        return self.encoder(images)

    def decode_from_features(self, features: Sequence[torch.Tensor], K: torch.Tensor, image_size: tuple[int, int],
                             decode_views: Sequence[int] = ALL_VIEWS, return_attention: bool = False) -> dict:
        """Attention and decoding from the encoder features of a triplet (:meth:`frame_context` of every view,
        then :meth:`decode_from_context`).

        Args:
            features: ``[skip2, skip4, skip8, ctx]``, each ``[B,3,C,h_i,w_i]`` (views 0, -1, +1).
            K: ``[B,3,3]`` pixel intrinsics of the ``image_size = (H, W)`` input.
            decode_views: view indices (0 = centre, 1 = previous, 2 = next) whose disparity is decoded.
        Returns:
            ``disp``: list over scales 0..3 of ``[B,len(decode_views),1,H/2^s,W/2^s]``; ``coarse_disp``
            ``[B,3,1,h,w]``; ``attention`` when asked.
        """
        ctx = features[-1]
        b, v = ctx.shape[:2]
        if v != NUM_VIEWS:
            raise ValueError(f"expected features of {NUM_VIEWS} views [B,3,C,h,w], got {tuple(ctx.shape)}")
        if K.shape != (b, 3, 3):
            raise ValueError(f"K must be [B,3,3] = {(b, 3, 3)} pixel intrinsics, got {tuple(K.shape)}")
        context = self.frame_context([f.flatten(0, 1) for f in features], K.repeat_interleave(v, dim=0), image_size)
        # reshape(-1, ...): an exported graph keeps its batch axis dynamic
        return self.decode_from_context([c.reshape(-1, v, *c.shape[1:]) for c in context], decode_views,
                                        return_attention)

    def frame_context(self, features: Sequence[torch.Tensor], K: torch.Tensor,
                      image_size: tuple[int, int]) -> list[torch.Tensor]:
        """The part of decoding that depends on one frame only, for N frames: the reference decoder's coarse
        disparity, the back-projected points and attention kernel, the first spatial attention block.

        A stream computes it once per frame and restacks it for each triplet (:meth:`decode_from_context`).

        Args:
            features: the frames' encoder features ``[skip2, skip4, skip8, ctx]``, each ``[N,C,h_i,w_i]``.
            K: ``[N,3,3]`` pixel intrinsics of the ``image_size = (H, W)`` input (replaced by KITTI's normalised
                intrinsics at that size when ``attention_camera`` is ``"kitti"``, as in the reference).
        Returns:
            ``[skip2, skip4, skip8, ctx after the first spatial block, coarse_disp [N,1,h,w], *kernel state]``,
            every tensor with the frames on its leading axis.
        """
        if len(features) != NUM_SKIPS + 1:
            raise ValueError(f"expected {NUM_SKIPS + 1} encoder features [skip2, skip4, skip8, ctx], got "
                             f"{len(features)}")
        *skips, ctx = features
        coarse_disp = self.reference_decoder(ctx)
        points = None
        if self.st_module.use_spatial:
            if self.attention_camera == "kitti":
                K = normalized_to_pixel(KITTI_NORMALIZED_K.to(K), *image_size).expand_as(K)
            with torch.no_grad():
                points = feature_points(1.0 / coarse_disp, K, image_size)
        first, kernel_state = self.st_module.per_frame(ctx, points)
        return [*skips, first, coarse_disp, *kernel_state]

    def decode_from_context(self, context: Sequence[torch.Tensor], decode_views: Sequence[int] = ALL_VIEWS,
                            return_attention: bool = False) -> dict:
        """Decoding of triplets from their views' :meth:`frame_context`, each tensor stacked ``[B,3,...]``
        (views 0, -1, +1). Returns what :meth:`decode_from_features` returns."""
        if len(context) < NUM_SKIPS + 2 or context[NUM_SKIPS].dim() != 5 or context[NUM_SKIPS].shape[1] != NUM_VIEWS:
            raise ValueError(f"expected the frame contexts of {NUM_VIEWS} views stacked [B,3,...] "
                             f"(TCDepth.frame_context of each view), got {[tuple(c.shape) for c in context]}")
        skips, (first, coarse_disp) = context[:NUM_SKIPS], context[NUM_SKIPS:NUM_SKIPS + 2]
        kernel_state = context[NUM_SKIPS + 2:]
        b, v = first.shape[:2]
        fused, attention = self.st_module.across_frames(first, [k.flatten(0, 1) for k in kernel_state],
                                                        return_attention)
        views = list(decode_views)
        decoder_input = [select_views(f, views).flatten(0, 1) for f in [*skips, fused]]
        disps = [d.unflatten(0, (b, len(views))) for d in self.decoder(decoder_input)]
        out = {"disp": disps, "coarse_disp": coarse_disp}
        if return_attention:
            out["attention"] = attention
        return out

    def forward(self, frames: torch.Tensor, K: torch.Tensor, return_attention: bool = False,
                decode_views: Sequence[int] = ALL_VIEWS) -> dict:
        """``frames [B,3,3,H,W]`` in ``[0, 1]`` (order 0, -1, +1) and ``K [B,3,3]`` -> outputs (see
        :meth:`decode_from_features`). The encoder runs once on all ``3B`` frames."""
        if frames.dim() != 5 or frames.shape[1] != NUM_VIEWS or frames.shape[2] != 3:
            raise ValueError(f"TCDepth expects a triplet [B,3,3,H,W] (frames 0, -1, +1), got {tuple(frames.shape)}")
        b = frames.shape[0]
        if K.shape != (b, 3, 3):
            raise ValueError(f"K must be [B,3,3] = {(b, 3, 3)} pixel intrinsics, got {tuple(K.shape)}")
        features = [f.unflatten(0, (b, NUM_VIEWS)) for f in self.encode(frames.flatten(0, 1))]
        return self.decode_from_features(features, K, tuple(frames.shape[-2:]), decode_views, return_attention)

    def depth_outputs(self, frames: torch.Tensor, K: torch.Tensor, return_attention: bool = False) -> dict:
        """The outputs of every view of ``frames [B,3,3,H,W]`` (see :meth:`decode_from_features`); the interface
        :class:`Monodepth2` shares."""
        return self(frames, K, return_attention=return_attention)


class Monodepth2(nn.Module):
    """Single-frame baseline and motion-loss teacher: an encoder of five features (1/2 .. 1/32, widths
    ``num_ch_enc``: ResNet or EfficientNet-Lite0) + the Monodepth2 decoder."""

    num_views = 1  # the centre frame of a sample

    def __init__(self, encoder: nn.Module, decoder: DepthDecoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, image: torch.Tensor) -> dict:
        """``image [B,3,H,W]`` in ``[0, 1]`` -> ``{"disp": [B,1,H/2^s,W/2^s] for s = 0..3}``."""
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"Monodepth2 expects an image [B,3,H,W], got {tuple(image.shape)}")
        check_network_size(*image.shape[-2:])
        return {"disp": self.decoder(self.encoder(image))}

    def depth_outputs(self, frames: torch.Tensor, K: torch.Tensor | None = None,
                      return_attention: bool = False) -> dict:
        """The outputs of the centre view of ``frames [B,V,3,H,W]`` in :class:`TCDepth`'s layout: ``disp`` a list
        over scales of ``[B,1,1,H/2^s,W/2^s]`` (no attention, ``K`` unused)."""
        if frames.dim() != 5 or frames.shape[2] != 3:
            raise ValueError(f"Monodepth2 expects frames [B,V,3,H,W] (view 0 is predicted), got {tuple(frames.shape)}")
        return {"disp": [d.unsqueeze(1) for d in self(frames[:, 0])["disp"]]}
