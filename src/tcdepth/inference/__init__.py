"""Depth from any video: the streaming :class:`Predictor`, output writers, metric scale, ONNX export."""

from tcdepth.inference.predictor import (
    DEFAULT_HORIZONTAL_FOV_DEG,
    END_MODES,
    FramePrediction,
    Predictor,
)
from tcdepth.inference.scale import GroundPlane, fit_ground_plane, ground_points, scale_from_camera_height

__all__ = [
    "DEFAULT_HORIZONTAL_FOV_DEG",
    "END_MODES",
    "FramePrediction",
    "GroundPlane",
    "Predictor",
    "fit_ground_plane",
    "ground_points",
    "scale_from_camera_height",
]
