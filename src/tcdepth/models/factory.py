"""Build networks from a :class:`~tcdepth.models.config.ModelConfig`."""

from __future__ import annotations

from torch import nn

from tcdepth.models.attention import SpatialTemporalModule
from tcdepth.models.config import SHIPPED_WEIGHTS, ModelConfig
from tcdepth.models.decoders import DepthDecoder, ReferenceDecoder
from tcdepth.models.drn import drn_c_26, drn_d_54
from tcdepth.models.efficientnet import (
    LITE0_BLOCKS,
    MONODEPTH2_SKIP_BLOCKS,
    TINY_BLOCKS,
    EfficientNetLite0Encoder,
    shipped_lite0_weights,
)
from tcdepth.models.pose import PoseNet
from tcdepth.models.pretrained import load_pretrained
from tcdepth.models.resnet import ResNetContextEncoder, ResNetEncoder
from tcdepth.models.tcdepth_model import Monodepth2, TCDepth


def build_context_encoder(cfg: ModelConfig) -> nn.Module:
    """Output-stride-8 encoder of the TC-Depth path, initialised from ``cfg.pretrained`` when given."""
    if cfg.encoder == "drn_c_26":
        encoder = drn_c_26()
    elif cfg.encoder == "drn_tiny":
        encoder = drn_c_26(cfg.tiny_width)
    elif cfg.encoder == "drn_d_54":
        encoder = drn_d_54()
    elif cfg.encoder == "efficientnet_lite0":
        encoder = EfficientNetLite0Encoder()
    elif cfg.encoder == "efficientnet_lite0_tiny":
        encoder = EfficientNetLite0Encoder(num_blocks=TINY_BLOCKS)
    else:
        encoder = ResNetContextEncoder(int(cfg.encoder.removeprefix("resnet")))
    if cfg.pretrained is not None:
        # the blocks the tiny Lite0 encoder does not build
        unbuilt = tuple(f"_blocks.{i}." for i in range(len(getattr(encoder, "_blocks", ())), LITE0_BLOCKS))
        load_pretrained(encoder.resnet if isinstance(encoder, ResNetContextEncoder) else encoder, pretrained_path(cfg),
                        unbuilt if isinstance(encoder, EfficientNetLite0Encoder) else ())
    return encoder


def pretrained_path(cfg: ModelConfig) -> str:
    """The depth encoder's ImageNet checkpoint: ``cfg.pretrained``, or the installed Lite0 file for ``shipped``."""
    return str(shipped_lite0_weights()) if cfg.pretrained == SHIPPED_WEIGHTS else cfg.pretrained


def build_model(cfg: ModelConfig) -> TCDepth | Monodepth2:
    """The depth network of ``cfg.architecture``."""
    if cfg.architecture == "monodepth2":
        if cfg.encoder == "efficientnet_lite0":
            encoder = EfficientNetLite0Encoder(output_stride=32, skip_blocks=MONODEPTH2_SKIP_BLOCKS)
        else:
            encoder = ResNetEncoder(int(cfg.encoder.removeprefix("resnet")))
        if cfg.pretrained is not None:
            load_pretrained(encoder, pretrained_path(cfg))
        return Monodepth2(encoder, DepthDecoder.for_monodepth2(encoder.num_ch_enc, cfg.upsample_mode,
                                                                     cfg.decoder_recompute_stages))
    encoder = build_context_encoder(cfg)
    st_module = SpatialTemporalModule(encoder.num_ch_ctx, cfg.num_blocks, cfg.use_spatial, cfg.use_temporal,
                                      cfg.block_sigmas(), cfg.gamma_init, cfg.temporal_reduction, cfg.attention_impl,
                                      cfg.attention_chunk_size, cfg.temporal_norm == "per_view")
    reference_width = cfg.decoder_width if cfg.reference_width is None else cfg.reference_width
    reference = ReferenceDecoder(encoder.num_ch_ctx, cfg.num_reference_bins, cfg.min_depth, cfg.max_depth,
                                 reference_width)
    decoder = DepthDecoder.for_tcdepth(encoder.num_ch_skips, encoder.num_ch_ctx, cfg.upsample_mode,
                                       cfg.decoder_width, cfg.decoder_recompute_stages)
    return TCDepth(encoder, st_module, reference, decoder, cfg.attention_camera)


def build_pose_net(cfg: ModelConfig) -> PoseNet:
    """The pose network (an encoder on two stacked frames), initialised from ``cfg.pose_pretrained`` when given."""
    pose = PoseNet(cfg.pose_encoder)
    if cfg.pose_pretrained is not None:
        path = shipped_lite0_weights() if cfg.pose_pretrained == SHIPPED_WEIGHTS else cfg.pose_pretrained
        load_pretrained(pose.encoder, path)
    return pose
