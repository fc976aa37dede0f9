"""Networks of TC-Depth: encoders, decoders, spatial-temporal attention, pose network, composed models."""

from tcdepth.models.attention import (
    GeometricKernel,
    SpatialAttention,
    SpatialTemporalModule,
    TemporalAttention,
    feature_points,
)
from tcdepth.models.config import ENCODERS, ModelConfig
from tcdepth.models.decoders import DepthDecoder, ReferenceDecoder
from tcdepth.models.drn import DRNEncoder, drn_c_26, drn_d_54
from tcdepth.models.efficientnet import EfficientNetLite0Encoder, shipped_lite0_weights
from tcdepth.models.factory import build_context_encoder, build_model, build_pose_net
from tcdepth.models.official import OfficialModel, import_official, is_official_folder
from tcdepth.models.pose import PoseDecoder, PoseNet
from tcdepth.models.pretrained import LoadReport, load_pretrained
from tcdepth.models.resnet import ResNetContextEncoder, ResNetEncoder
from tcdepth.models.tcdepth_model import Monodepth2, TCDepth
from tcdepth.models.weights import (
    load_decoder_from,
    load_encoder_from,
    load_state_exactly,
    load_weights,
    read_model_config,
    save_weights,
)

__all__ = [
    "DRNEncoder",
    "DepthDecoder",
    "ENCODERS",
    "EfficientNetLite0Encoder",
    "GeometricKernel",
    "LoadReport",
    "ModelConfig",
    "Monodepth2",
    "OfficialModel",
    "PoseDecoder",
    "PoseNet",
    "ReferenceDecoder",
    "ResNetContextEncoder",
    "ResNetEncoder",
    "SpatialAttention",
    "SpatialTemporalModule",
    "TCDepth",
    "TemporalAttention",
    "build_context_encoder",
    "build_model",
    "build_pose_net",
    "drn_c_26",
    "drn_d_54",
    "feature_points",
    "import_official",
    "is_official_folder",
    "load_pretrained",
    "load_decoder_from",
    "load_encoder_from",
    "load_state_exactly",
    "load_weights",
    "read_model_config",
    "save_weights",
    "shipped_lite0_weights",
]
