"""Depth of a whole clip: stream frames through a :class:`Predictor` into a :class:`ClipWriter`, with the metric
scale from a known camera height (the predictions are held back until the scale of the first frames is known)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np

from tcdepth.inference.predictor import FramePrediction, Predictor
from tcdepth.inference.scale import scale_from_camera_height
from tcdepth.inference.writers import ClipWriter

log = logging.getLogger(__name__)

DEFAULT_SCALE_FRAMES = 10


def predict_clip(predictor: Predictor, frames: Iterable, writer: ClipWriter, camera_height: float | None = None,
                 scale_frames: int = DEFAULT_SCALE_FRAMES, batch_size: int = 1) -> int:
    """Predict every frame of ``frames`` (PIL images or uint8 ``[H,W,3]`` arrays), ``batch_size`` frames per
    network call (:meth:`Predictor.stream`), and write it; returns the number of frames written.

    With ``camera_height`` (metres), the predictor's scale becomes the median over the first ``scale_frames``
    predictions of the factor that puts the fitted ground plane that far below the camera; those predictions are
    rescaled and every later one comes out in metres.
    """
    if scale_frames < 1:
        raise ValueError(f"scale_frames must be >= 1, got {scale_frames}")
    pending: list[FramePrediction] = []
    scale_known = camera_height is None

    def release() -> None:
        nonlocal scale_known
        factors = [scale_from_camera_height(p.depth, p.K, camera_height) for p in pending]
        predictor.scale = float(np.median(factors))
        log.info("scale from camera height %g m: %.4g (median of %d frames)", camera_height, predictor.scale,
                 len(factors))
        for held in pending:
            writer.write(held.rescaled(predictor.scale))
        pending.clear()
        scale_known = True

    def emit(prediction: FramePrediction) -> None:
        if scale_known:
            writer.write(prediction)
            return
        pending.append(prediction)
        if len(pending) >= scale_frames:
            release()

    for prediction in predictor.stream(frames, batch_size):
        emit(prediction)
    if pending:
        release()
    return writer.num_frames
