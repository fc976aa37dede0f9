"""Model predictions for evaluation: frame stores (synthetic native layout, KITTI raw), triplet planning at
sequence boundaries, and a predictor that turns frames into scaled disparities.

Every test frame is predicted with its own triplet ``(t, t-1, t+1)`` of real frames. At a sequence boundary, where
``t-1`` or ``t+1`` does not exist, the frame is predicted as the previous (or next) view of the triplet centred at
``t+1`` (or ``t-1``) — still real neighbours, the model decodes all three views (fallback ``"shifted"``). Only when
the sequence is too short for that are the missing neighbours replaced by the centre frame, as the reference code
does silently (fallback ``"duplicated"``). Both are counted and reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from tcdepth.data.base import FolderIndex, read_rgb, to_tensor
from tcdepth.data.intrinsics import Intrinsics, load_intrinsics
from tcdepth.geometry import disp_to_depth, flip_intrinsics, pose_vec_to_mat
from tcdepth.models import Monodepth2, TCDepth

FALLBACKS = ("none", "shifted", "duplicated")


@dataclass(frozen=True)
class TestFrame:
    """One test item: ``sequence`` is a synthetic sequence or a KITTI ``<date>/<drive>``; ``camera`` 2 or 3."""

    sequence: str
    frame: int
    camera: int = 2

    @property
    def name(self) -> str:
        return f"{self.sequence} {self.frame}"

    def at(self, frame: int) -> TestFrame:
        return TestFrame(self.sequence, frame, self.camera)


class SyntheticFrames:
    """Frames, intrinsics, depth and poses of the synthetic native layout (docs/architecture.md)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"synthetic data root {self.root} does not exist")
        self._folders = FolderIndex()
        self._intrinsics: dict[str, Intrinsics] = {}
        self._poses: dict[str, np.ndarray] = {}

    def read_split(self, path: str | Path) -> list[TestFrame]:
        from tcdepth.data.splits import read_sequence_split

        return [TestFrame(e.sequence, e.frame) for e in read_sequence_split(path)]

    def image_path(self, item: TestFrame) -> Path:
        return self.root / item.sequence / "rgb" / f"{item.frame:06d}.png"

    def exists(self, item: TestFrame) -> bool:
        return item.frame >= 0 and self._folders.exists(self.image_path(item))

    def intrinsics(self, item: TestFrame) -> Intrinsics:
        if item.sequence not in self._intrinsics:
            self._intrinsics[item.sequence] = load_intrinsics(self.root / item.sequence / "intrinsics.yaml")
        return self._intrinsics[item.sequence]

    def gt_depth(self, item: TestFrame) -> np.ndarray:
        """``[H,W]`` metres, 0 where unknown (sky)."""
        path = self.root / item.sequence / "depth" / f"{item.frame:06d}.npy"
        if not path.is_file():
            raise FileNotFoundError(f"ground-truth depth {path} does not exist")
        depth = np.load(path).astype(np.float32)
        return np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float32)

    def gt_motion(self, item: TestFrame, source: TestFrame) -> np.ndarray | None:
        """``T_{item->source}`` ``[4,4]`` from ``poses.npy`` (camera-to-world)."""
        if item.sequence not in self._poses:
            path = self.root / item.sequence / "poses.npy"
            self._poses[item.sequence] = np.load(path).astype(np.float64) if path.is_file() else np.empty((0, 4, 4))
        poses = self._poses[item.sequence]
        if max(item.frame, source.frame) >= len(poses):
            return None
        return np.linalg.inv(poses[source.frame]) @ poses[item.frame]


class KittiFrames:
    """Frames of KITTI raw (Monodepth2 layout, ``.png`` or ``.jpg``); ground truth from Velodyne scans.

    ``poses_dir`` optionally holds camera-0-to-world poses per drive (``<drive>.txt`` as ``tcdepth synth --layout
    kitti`` writes, or the odometry ``<seq>.txt`` of :data:`tcdepth.evaluation.tcm_gt.ODOMETRY_SEQUENCES`).
    """

    def __init__(self, data_path: str | Path, poses_dir: str | Path | None = None):
        self.data_path = Path(data_path)
        if not self.data_path.is_dir():
            raise FileNotFoundError(f"KITTI data path {self.data_path} does not exist")
        self.poses_dir = Path(poses_dir) if poses_dir is not None else None
        self._folders = FolderIndex()
        self._intrinsics: dict[tuple[str, int], Intrinsics] = {}
        self._poses: dict[str, np.ndarray | None] = {}

    def read_split(self, path: str | Path) -> list[TestFrame]:
        from tcdepth.data.splits import read_kitti_split

        return [TestFrame(e.folder, e.frame, e.camera) for e in read_kitti_split(path)]

    def image_path(self, item: TestFrame) -> Path:
        stem = self.data_path / item.sequence / f"image_0{item.camera}" / "data" / f"{item.frame:010d}"
        png = stem.with_suffix(".png")
        return stem.with_suffix(".jpg") if not self._folders.exists(png) and self._folders.exists(
            stem.with_suffix(".jpg")) else png

    def exists(self, item: TestFrame) -> bool:
        return item.frame >= 0 and self._folders.exists(self.image_path(item))

    def intrinsics(self, item: TestFrame) -> Intrinsics:
        from tcdepth.data.kitti import CAM_TO_CAM, kitti_intrinsics
        from tcdepth.data.kitti_raw import default_kitti_intrinsics

        key = (item.sequence, item.camera)
        if key not in self._intrinsics:
            calib = self.data_path / item.sequence.split("/")[0]
            if (calib / CAM_TO_CAM).is_file():
                self._intrinsics[key] = kitti_intrinsics(calib, item.camera)
            else:
                with Image.open(self.image_path(item)) as image:
                    width, height = image.size
                self._intrinsics[key] = default_kitti_intrinsics(height, width)
        return self._intrinsics[key]

    def gt_depth(self, item: TestFrame) -> np.ndarray:
        """The Velodyne scan projected into the camera (as ``tcdepth export-gt --split eigen``)."""
        from tcdepth.data.kitti import velodyne_depth_map

        velo = self.data_path / item.sequence / "velodyne_points" / "data" / f"{item.frame:010d}.bin"
        return velodyne_depth_map(self.data_path / item.sequence.split("/")[0], velo, cam=item.camera)

    def _drive_poses(self, sequence: str) -> np.ndarray | None:
        from tcdepth.evaluation.tcm_gt import ODOMETRY_SEQUENCES, read_odometry_poses

        if sequence not in self._poses:
            self._poses[sequence] = None
            if self.poses_dir is not None:
                names = [f"{sequence.split('/')[1].removesuffix('_sync')}.txt"]
                if sequence in ODOMETRY_SEQUENCES:
                    names.append(f"{ODOMETRY_SEQUENCES[sequence]}.txt")
                for name in names:
                    if (self.poses_dir / name).is_file():
                        self._poses[sequence] = read_odometry_poses(self.poses_dir / name)
                        break
        return self._poses[sequence]

    def gt_motion(self, item: TestFrame, source: TestFrame) -> np.ndarray | None:
        """``T_{item->source}`` of camera 2 from the drive's camera-0 poses, or None without a pose file."""
        from tcdepth.evaluation.tcm_gt import camera2_transform

        poses = self._drive_poses(item.sequence)
        if poses is None or item.camera != 2 or max(item.frame, source.frame) >= len(poses):
            return None
        calib_dir = self.data_path / item.sequence.split("/")[0]
        return camera2_transform(np.linalg.inv(poses[source.frame]) @ poses[item.frame], calib_dir)


FrameStore = SyntheticFrames | KittiFrames


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


def load_frame(store: FrameStore, item: TestFrame, height: int, width: int) -> torch.Tensor:
    """``[3,H,W]`` in ``[0, 1]`` at the network size (Lanczos, as the datasets)."""
    path = store.image_path(item)
    if not store.exists(item):
        raise FileNotFoundError(f"image {path} of {item.name} does not exist")
    image = read_rgb(path)
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    return to_tensor(image)


@dataclass
class FramePrediction:
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

    @property
    def num_views(self) -> int:
        return 3 if isinstance(self.model, TCDepth) else 1

    @torch.no_grad()
    def scaled_disparity(self, frames: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
        """``frames [V,3,H,W]`` (view order), ``K [3,3]`` -> scaled disparity ``[V,H,W]`` of every view."""
        frames = frames.to(self.device)
        if isinstance(self.model, TCDepth):
            disp = self.model(frames[None], K[None].to(self.device))["disp"][0][0, :, 0]
        else:
            disp = self.model(frames)["disp"][0][:, 0]
        return disp_to_depth(disp.float(), self.min_depth, self.max_depth)[0].cpu()

    def predict(self, store: FrameStore, item: TestFrame) -> FramePrediction:
        """Predict ``item`` with its own triplet (:func:`plan_triplet`)."""
        if not store.exists(item):
            raise FileNotFoundError(f"image {store.image_path(item)} of {item.name} does not exist")
        plan = plan_triplet(lambda f: store.exists(item.at(f)), item.frame, self.num_views)
        frames = torch.stack([load_frame(store, item.at(f), self.height, self.width) for f in plan.frames])
        K = store.intrinsics(item).K_for(self.height, self.width)
        disp = self.scaled_disparity(frames, K)[plan.view].numpy()
        flipped = None
        if self.post_process:
            flipped = self.scaled_disparity(frames.flip(-1), flip_intrinsics(K, self.width))[plan.view].numpy()
        return FramePrediction(disp, flipped, plan.fallback)


class MotionPredictor:
    """``T_{t->s}`` of consecutive frames from a pose network (``T_{0->+1} = pose_vec_to_mat(*pose(I_0, I_+1))``)."""

    def __init__(self, pose_net: nn.Module, height: int, width: int, device: str = "cpu"):
        self.pose_net = pose_net.to(device).eval()
        self.height, self.width, self.device = height, width, device

    @torch.no_grad()
    def motion(self, store: FrameStore, item: TestFrame, source: TestFrame) -> np.ndarray:
        """``[4,4]`` target-to-source motion in network units (the scale of the predicted depth)."""
        a = load_frame(store, item, self.height, self.width)[None].to(self.device)
        b = load_frame(store, source, self.height, self.width)[None].to(self.device)
        if source.frame > item.frame:
            T = pose_vec_to_mat(*self.pose_net(a, b))
        else:
            T = pose_vec_to_mat(*self.pose_net(b, a), invert=True)
        return T[0].double().cpu().numpy()


def predict_frames(predictor: DepthPredictor, store: FrameStore, items: Sequence[TestFrame],
                   on_error: Callable[[TestFrame, Exception], None] | None = None
                   ) -> dict[TestFrame, FramePrediction]:
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
