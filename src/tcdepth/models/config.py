"""``ModelConfig``: the typed description from which ``build_model`` / ``build_pose_net`` build the networks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tcdepth.config import ConfigError

ENCODERS = ("drn_c_26", "drn_d_54", "drn_tiny", "resnet18", "resnet50", "efficientnet_lite0", "efficientnet_lite0_tiny")
LITE0_ENCODERS = ("efficientnet_lite0", "efficientnet_lite0_tiny")
MONODEPTH2_ENCODERS = ("resnet18", "resnet50", "efficientnet_lite0")
POSE_ENCODERS = ("resnet18", "resnet50", "efficientnet_lite0")
SHIPPED_WEIGHTS = "shipped"


@dataclass
class ModelConfig:
    """Network settings (the ``model:`` section of a config file).

    Attributes:
        architecture: ``"tcdepth"`` (3-frame model with spatial-temporal attention) or ``"monodepth2"``
            (single-frame baseline / motion-loss teacher; ResNet or EfficientNet-Lite0 encoder).
        encoder: depth encoder; ``drn_tiny`` is DRN-C-26 with every width scaled by ``tiny_width``;
            ``efficientnet_lite0_tiny`` (TC-Depth) is EfficientNet-Lite0 up to its fifth stage (112 channels at 1/8).
        tiny_width: width multiplier of ``drn_tiny`` (0 < w <= 1).
        pretrained: ImageNet checkpoint file for the depth encoder (public fyu/drn or torchvision key names), or
            ``"shipped"`` for the EfficientNet-Lite0 weights installed with its package (both Lite0 encoders); None:
            random init.
        pose_encoder: encoder of the pose network on two stacked frames (``resnet18``, ``resnet50`` or
            ``efficientnet_lite0``).
        pose_pretrained: ImageNet checkpoint for the pose encoder (the first convolution's weights are repeated for
            the two frames and halved), ``"shipped"`` for the EfficientNet-Lite0 weights installed with its
            package, or None.
        num_blocks: spatial-temporal blocks.
        use_spatial, use_temporal: ablation switches of the two attention halves.
        sigma: spatial kernel scale, weights ``softmax(-d / (2 sigma))`` (reference: 0.3 * 30/36 = 0.25); one value
            for every block, or a list with one value per block (an imported official checkpoint stores each
            block's ``sigma_3d``).
        gamma_init: initial value of the learnable spatial residual weight.
        temporal_reduction: channel reduction of the temporal query/key/value projections.
        temporal_norm: BatchNorm of the temporal query/key projection in training: ``"joint"`` normalises the three
            views together, ``"per_view"`` each view's batch on its own (the reference, which projects one view per
            call). The same in eval mode.
        attention_camera: intrinsics with which the coarse depth is back-projected for the spatial attention:
            ``"input"`` (the input's, scaled to the feature grid) or ``"kitti"`` (the reference: KITTI's normalised
            intrinsics scaled to the grid, whatever the input camera).
        attention_impl: ``"auto"`` | ``"chunked"`` | ``"dense"`` (see ``GeometricKernel``).
        attention_chunk_size: query positions per chunk of the chunked spatial attention.
        upsample_mode: decoder upsampling; None picks bilinear for tcdepth and nearest for monodepth2.
        min_depth, max_depth: depth range of the sigmoid disparity (``disp_to_depth``) and of the reference bins.
        num_reference_bins: disparity bins of the reference decoder.
        decoder_width: width multiplier (0 < w <= 1) of the depth decoder's stages (128, 64, 32, 16) and, unless
            ``reference_width`` is given, of the reference decoder's hidden layer (256); 1.0 is the paper's decoders.
        reference_width: width multiplier (0 < w <= 1) of the reference decoder's hidden layer alone (None: the
            ``decoder_width``); a narrow coarse head beside a full-width depth decoder that starts from a baseline's.
        decoder_recompute_stages: finest stages of the depth decoder recomputed in backward during training
            instead of keeping their activations (1: the full-resolution stage; 4 / 5: every stage of the TC-Depth /
            Monodepth2 decoder). Same results; less memory for more compute (benchmarks/README.md).
    """

    architecture: Literal["tcdepth", "monodepth2"] = "tcdepth"
    encoder: str = "drn_c_26"
    tiny_width: float = 0.25
    pretrained: str | None = None
    pose_encoder: str = "resnet18"
    pose_pretrained: str | None = None
    num_blocks: int = 3
    use_spatial: bool = True
    use_temporal: bool = True
    sigma: float | list[float] = 0.25
    gamma_init: float = 0.7
    temporal_reduction: int = 8
    temporal_norm: Literal["joint", "per_view"] = "joint"
    attention_camera: Literal["input", "kitti"] = "input"
    attention_impl: Literal["auto", "chunked", "dense"] = "auto"
    attention_chunk_size: int = 512
    upsample_mode: Literal["bilinear", "nearest"] | None = None
    min_depth: float = 0.1
    max_depth: float = 100.0
    num_reference_bins: int = 256
    decoder_width: float = 1.0
    reference_width: float | None = None
    decoder_recompute_stages: int = 1

    def __post_init__(self):
        if self.architecture not in ("tcdepth", "monodepth2"):
            raise ConfigError(f"model.architecture: expected 'tcdepth' or 'monodepth2', got {self.architecture!r}")
        if self.encoder not in ENCODERS:
            raise ConfigError(f"model.encoder: expected one of {list(ENCODERS)}, got {self.encoder!r}")
        if self.architecture == "monodepth2" and self.encoder not in MONODEPTH2_ENCODERS:
            raise ConfigError(f"model.encoder: monodepth2 needs one of {list(MONODEPTH2_ENCODERS)}, "
                              f"got {self.encoder!r}")
        if not 0.0 < self.tiny_width <= 1.0:
            raise ConfigError(f"model.tiny_width: expected 0 < w <= 1, got {self.tiny_width}")
        if self.pretrained == SHIPPED_WEIGHTS and self.encoder not in LITE0_ENCODERS:
            raise ConfigError(f"model.pretrained: {SHIPPED_WEIGHTS!r} weights exist only for efficientnet_lite0; "
                              f"give a checkpoint file for {self.encoder}")
        if self.pose_encoder not in POSE_ENCODERS:
            raise ConfigError(f"model.pose_encoder: expected one of {list(POSE_ENCODERS)}, got {self.pose_encoder!r}")
        if self.pose_pretrained == SHIPPED_WEIGHTS and self.pose_encoder != "efficientnet_lite0":
            raise ConfigError(f"model.pose_pretrained: {SHIPPED_WEIGHTS!r} weights exist only for efficientnet_lite0; "
                              f"give a checkpoint file for {self.pose_encoder}")
        if self.num_blocks < 0:
            raise ConfigError(f"model.num_blocks: expected >= 0, got {self.num_blocks}")
        if isinstance(self.sigma, list) and len(self.sigma) != self.num_blocks:
            raise ConfigError(f"model.sigma: expected one value or {self.num_blocks} (model.num_blocks), got "
                              f"{len(self.sigma)} values")
        if min(self.block_sigmas(), default=1.0) <= 0:
            raise ConfigError(f"model.sigma: expected > 0, got {self.sigma}")
        if self.temporal_reduction < 1:
            raise ConfigError(f"model.temporal_reduction: expected >= 1, got {self.temporal_reduction}")
        if self.temporal_norm not in ("joint", "per_view"):
            raise ConfigError(f"model.temporal_norm: expected joint or per_view, got {self.temporal_norm!r}")
        if self.attention_camera not in ("input", "kitti"):
            raise ConfigError(f"model.attention_camera: expected input or kitti, got {self.attention_camera!r}")
        if self.attention_impl not in ("auto", "chunked", "dense"):
            raise ConfigError(f"model.attention_impl: expected auto, chunked or dense, got {self.attention_impl!r}")
        if self.attention_chunk_size < 1:
            raise ConfigError(f"model.attention_chunk_size: expected >= 1, got {self.attention_chunk_size}")
        if self.upsample_mode is None:
            self.upsample_mode = "bilinear" if self.architecture == "tcdepth" else "nearest"
        if self.upsample_mode not in ("bilinear", "nearest"):
            raise ConfigError(f"model.upsample_mode: expected bilinear or nearest, got {self.upsample_mode!r}")
        if not 0 < self.min_depth < self.max_depth:
            raise ConfigError(f"model.min_depth/max_depth: expected 0 < min < max, got {self.min_depth}, "
                              f"{self.max_depth}")
        if self.num_reference_bins < 2:
            raise ConfigError(f"model.num_reference_bins: expected >= 2, got {self.num_reference_bins}")
        if not 0.0 < self.decoder_width <= 1.0:
            raise ConfigError(f"model.decoder_width: expected 0 < w <= 1, got {self.decoder_width}")
        if self.reference_width is not None and not 0.0 < self.reference_width <= 1.0:
            raise ConfigError(f"model.reference_width: expected 0 < w <= 1 or null, got {self.reference_width}")
        if self.decoder_recompute_stages < 0:
            raise ConfigError(f"model.decoder_recompute_stages: expected >= 0, got {self.decoder_recompute_stages}")

    def block_sigmas(self) -> tuple[float, ...]:
        """The spatial kernel scale of each block."""
        if isinstance(self.sigma, list):
            return tuple(float(s) for s in self.sigma)
        return (float(self.sigma),) * self.num_blocks
