"""Model predictions for evaluation: triplet planning at sequence boundaries, and predictors that turn the frames of
a :class:`~tcdepth.data.frames.FrameSource` into scaled disparities (depth) and camera motions.

Every test frame is predicted with its own triplet ``(t, t-1, t+1)`` of real frames. At a sequence boundary, where
``t-1`` or ``t+1`` does not exist, the frame is predicted as the previous (or next) view of the triplet centred at
``t+1`` (or ``t-1``) — still real neighbours, the model decodes all three views (fallback ``"shifted"``). Only when
the sequence is too short for that are the missing neighbours replaced by the centre frame, as the reference code
does silently (fallback ``"duplicated"``). Both are counted and reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from tcdepth.data.base import to_tensor
from tcdepth.data.frames import FrameRef, FrameSource
from tcdepth.geometry import disp_to_depth, flip_intrinsics, pose_vec_to_mat
from tcdepth.models import Monodepth2, TCDepth

FALLBACKS = ("none", "shifted", "duplicated")


@dataclass(frozen=True)
class TripletPlan:
    """Frames to load (in view order: centre, previous, next), the view that holds the target, the fallback."""

    frames: tuple[int, ...]
    view: int
    fallback: str


def plan_triplet(exists: Callable[[int], bool], frame: int, num_views: int = 3) -> TripletPlan:
    """The triplet that predicts ``frame`` (see the module docstring); ``num_views=1`` for single-frame models."""
    if num_views == 1:
        return TripletPlan((frame,), 0, "none")
    if exists(frame - 1) and exists(frame + 1):
        return TripletPlan((frame, frame - 1, frame + 1), 0, "none")
    if not exists(frame - 1) and exists(frame + 1) and exists(frame + 2):
        return TripletPlan((frame + 1, frame, frame + 2), 1, "shifted")
    if not exists(frame + 1) and exists(frame - 1) and exists(frame - 2):
        return TripletPlan((frame - 1, frame - 2, frame), 2, "shifted")
    return TripletPlan((frame, frame - 1 if exists(frame - 1) else frame, frame + 1 if exists(frame + 1) else frame),
                       0, "duplicated")


def load_frame(store: FrameSource, item: FrameRef, height: int, width: int) -> torch.Tensor:
    """``[3,H,W]`` in ``[0, 1]`` at the network size (Lanczos, as the datasets)."""
    if not store.exists(item):
        raise FileNotFoundError(f"frame {item.name} does not exist")
    image = store.load_image(item)
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    return to_tensor(image)


@dataclass
class TestPrediction:
    """Scaled disparity ``[h,w]`` at the network size, the flipped-input prediction (post-processing) and the
    boundary fallback used."""

    disp: np.ndarray
    flipped_disp: np.ndarray | None
    fallback: str

    def final_disp(self) -> np.ndarray:
        from tcdepth.evaluation.eigen import post_process_disparity

        if self.flipped_disp is None:
            return self.disp
        return post_process_disparity(self.disp, self.flipped_disp).astype(np.float32)


class DepthPredictor:
    """Scaled disparities (``disp_to_depth(sigmoid)[0]``) of a TC-Depth or Monodepth2 model at ``height x width``."""

    def __init__(self, model: nn.Module, min_depth: float, max_depth: float, height: int, width: int,
                 post_process: bool = False, device: str = "cpu"):
        if not isinstance(model, TCDepth | Monodepth2):
            raise ValueError(f"expected a TCDepth or Monodepth2 depth network, got {type(model).__name__}")
        self.model = model.to(device).eval()
        self.min_depth, self.max_depth = min_depth, max_depth
        self.height, self.width = height, width
        self.post_process = post_process
        self.device = device

    @torch.no_grad()
    def scaled_disparity(self, frames: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
        """``frames [V,3,H,W]`` (view order), ``K [3,3]`` -> scaled disparity ``[V,H,W]`` of every view."""
        disp = self.model.depth_outputs(frames[None].to(self.device), K[None].to(self.device))["disp"][0][0, :, 0]
        return disp_to_depth(disp.float(), self.min_depth, self.max_depth)[0].cpu()

    def predict(self, store: FrameSource, item: FrameRef) -> TestPrediction:
        """Predict ``item`` with its own triplet (:func:`plan_triplet`)."""
        if not store.exists(item):
            raise FileNotFoundError(f"frame {item.name} does not exist")
        plan = plan_triplet(lambda f: store.exists(item.at(f)), item.frame, self.model.num_views)
        frames = torch.stack([load_frame(store, item.at(f), self.height, self.width) for f in plan.frames])
        K = store.intrinsics(item).K_for(self.height, self.width)
        disp = self.scaled_disparity(frames, K)[plan.view].numpy()
        flipped = None
        if self.post_process:
            flipped = self.scaled_disparity(frames.flip(-1), flip_intrinsics(K, self.width))[plan.view].numpy()
        return TestPrediction(disp, flipped, plan.fallback)


class MotionPredictor:
    """``T_{t->s}`` of consecutive frames from a pose network (``T_{0->+1} = pose_vec_to_mat(*pose(I_0, I_+1))``)."""

    def __init__(self, pose_net: nn.Module, height: int, width: int, device: str = "cpu"):
        self.pose_net = pose_net.to(device).eval()
        self.height, self.width, self.device = height, width, device

    @torch.no_grad()
    def motion(self, store: FrameSource, item: FrameRef, source: FrameRef) -> np.ndarray:
        """``[4,4]`` target-to-source motion in network units (the scale of the predicted depth)."""
        a = load_frame(store, item, self.height, self.width)[None].to(self.device)
        b = load_frame(store, source, self.height, self.width)[None].to(self.device)
        if source.frame > item.frame:
            T = pose_vec_to_mat(*self.pose_net(a, b))
        else:
            T = pose_vec_to_mat(*self.pose_net(b, a), invert=True)
        return T[0].double().cpu().numpy()


def predict_frames(predictor: DepthPredictor, store: FrameSource, items: Sequence[FrameRef],
                   on_error: Callable[[FrameRef, Exception], None] | None = None
                   ) -> dict[FrameRef, TestPrediction]:
    """Predict every item once; a missing or unreadable frame raises, or is passed to ``on_error`` and left out."""
    predictions = {}
    for item in dict.fromkeys(items):
        try:
            predictions[item] = predictor.predict(store, item)
        except (FileNotFoundError, ValueError) as err:
            if on_error is None:
                raise
            on_error(item, err)
    return predictions
