"""``Predictor``: depth (and camera motion) for a clip or a live stream of frames.

TC-Depth looks at the previous and the next frame, so in streaming mode :meth:`Predictor.push` returns the depth of
the *previous* frame once its successor has arrived (one frame of latency), and :meth:`Predictor.flush` returns the
last one. Each frame is encoded once, with everything else that depends on it alone (coarse depth, attention kernel,
first spatial attention block: ``TCDepth.frame_context``); that is reused by the three triplets that contain it, and
only the centre frame is decoded. A Monodepth2 (single-frame) checkpoint answers every push at once.

Sequence ends (the first frame has no predecessor, the last no successor) follow ``end_mode``:

* ``"mirror"`` (default): the missing neighbour is the frame on the other side, i.e. the triplet of the first frame
  is ``(0, -1 := +1, +1)`` and of the last ``(t, t-1, +1 := t-1)``. Only real, distinct frames are shown to the
  model; the motion seen is the reversed motion of the other neighbour. A one-frame clip cannot be mirrored.
* ``"duplicate"``: the centre frame stands in for the missing neighbour (what the KITTI evaluation of the reference
  code did); the model then sees a static camera. A warning says so.
* ``"drop"``: the end frames get no depth, like the training datasets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from tcdepth.data.intrinsics import Intrinsics
from tcdepth.geometry import disp_to_depth, pose_vec_to_mat
from tcdepth.inference.cuda_graph import CudaGraphed
from tcdepth.models import ModelConfig, Monodepth2, PoseNet, TCDepth
from tcdepth.runs import DEFAULT_NETWORK_SIZE, load_trained_model

log = logging.getLogger(__name__)

END_MODES = ("mirror", "duplicate", "drop")
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DEFAULT_HORIZONTAL_FOV_DEG = 60.0


@dataclass
class FramePrediction:
    """The result for one frame.

    Attributes:
        index: position of the frame in the stream (0-based, counting every pushed frame).
        image: uint8 ``[H,W,3]`` frame as pushed.
        depth: float32 ``[H,W]`` depth at the frame's size, in network units times ``scale``.
        K: float32 ``[3,3]`` pixel intrinsics of the frame.
        camera_to_world: float32 ``[4,4]`` pose relative to the first frame (translation times ``scale``), or None
            without a pose network.
        scale: the factor applied to ``depth`` and the translations (1: relative units).
    """

    index: int
    image: np.ndarray
    depth: np.ndarray
    K: np.ndarray
    camera_to_world: np.ndarray | None
    scale: float = 1.0

    def rescaled(self, scale: float) -> FramePrediction:
        """The same prediction with depth and translation in units of ``scale`` (replacing the current one)."""
        factor = scale / self.scale
        pose = None
        if self.camera_to_world is not None:
            pose = self.camera_to_world.copy()
            pose[:3, 3] *= factor
        return dataclasses.replace(self, depth=self.depth * factor, camera_to_world=pose, scale=scale)


@dataclass
class _Frame:
    index: int
    image: np.ndarray
    network_input: torch.Tensor  # [1,3,H,W]
    context: list[torch.Tensor] | None  # TCDepth.frame_context of the frame, each [1,...]


def _as_rgb_array(frame) -> np.ndarray:
    if isinstance(frame, Image.Image):
        return np.asarray(frame.convert("RGB"), dtype=np.uint8)
    array = np.asarray(frame)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"a frame must be a PIL image or a uint8 array [H,W,3], got {array.dtype} {array.shape}")
    return array


class Predictor:
    """Depth of video frames with a TC-Depth or Monodepth2 network.

    Args:
        depth_net: a :class:`TCDepth` or :class:`Monodepth2` network.
        model_cfg: its :class:`ModelConfig` (depth range).
        pose_net: optional :class:`PoseNet`; when given each prediction carries its camera pose.
        height, width: network input size (multiples of 32); frames are resized to it (Lanczos).
        intrinsics: camera of the frames; None: a centred camera with a horizontal field of view of ``fov`` degrees
            and a warning.
        end_mode: ``"mirror"`` | ``"duplicate"`` | ``"drop"`` (module docstring).
        device: torch device.
        precision: ``"fp32"`` | ``"bf16"`` | ``"fp16"`` (autocast; fp16 needs CUDA).
        scale: factor from network units to the output unit (e.g. metres).
        cuda_graphs: replay the per-frame network calls as CUDA graphs (CUDA only; removes the launch cost that
            dominates at batch 1; the first frame of each size captures them).

    The network calls behind :meth:`push_batch` (eager, or replayed as CUDA graphs), callable under
    ``torch.no_grad`` on network-size tensors: ``encode_frames(images [N,3,H,W], K [N,3,3])`` -> the frames'
    contexts, ``decode_centres(*contexts [N,3,...])`` (views centre, previous, next) -> centre disparities
    ``[N,1,H,W]``, and ``single_frame_disparity(images [N,3,H,W])`` -> Monodepth2 disparities ``[N,1,H,W]``.
    """

    def __init__(self, depth_net: TCDepth | Monodepth2, model_cfg: ModelConfig, pose_net: PoseNet | None = None,
                 height: int = DEFAULT_NETWORK_SIZE[0], width: int = DEFAULT_NETWORK_SIZE[1],
                 intrinsics: Intrinsics | None = None, end_mode: str = "mirror", device: str | torch.device = "cpu",
                 precision: str = "fp32", scale: float = 1.0, cuda_graphs: bool = False,
                 fov: float = DEFAULT_HORIZONTAL_FOV_DEG):
        if end_mode not in END_MODES:
            raise ValueError(f"end_mode: expected one of {END_MODES}, got {end_mode!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision: expected one of {tuple(PRECISIONS)}, got {precision!r}")
        self.device = torch.device(device)
        if precision == "fp16" and self.device.type != "cuda":
            raise ValueError("precision fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.depth_net = depth_net.to(self.device).eval()
        self.pose_net = pose_net.to(self.device).eval() if pose_net is not None else None
        self.model_cfg = model_cfg
        self.height, self.width = height, width
        self.intrinsics = intrinsics
        self.fov = fov
        self.end_mode = end_mode
        self.precision = precision
        self.scale = scale
        network_calls = (self._encode_eager, self._decode_eager, self._single_disp_eager)
        if cuda_graphs:
            if self.device.type != "cuda":
                raise ValueError(f"cuda_graphs needs a CUDA device, got {self.device}")
            network_calls = tuple(CudaGraphed(fn) for fn in network_calls)
        self.encode_frames, self.decode_centres, self.single_frame_disparity = network_calls
        self.reset()

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu", precision: str = "fp32",
                        height: int | None = None, width: int | None = None, **kwargs) -> Predictor:
        """Load a run directory (its depth network, pose network when present, and training size) or a depth
        weights file (:func:`tcdepth.runs.load_trained_model`). Other keyword arguments go to :class:`Predictor`."""
        model = load_trained_model(path, height, width)
        return cls(model.depth_net, model.model_config, model.pose_net, model.height, model.width, device=device,
                   precision=precision, **kwargs)

    @property
    def single_frame(self) -> bool:
        """True for a Monodepth2 network (no triplet, no latency)."""
        return self.depth_net.num_views == 1

    def reset(self) -> None:
        """Forget the stream (the next push is frame 0)."""
        self._window: dict[int, _Frame] = {}
        self._pushed = 0
        self._emitted = 0
        self._camera_to_world: dict[int, torch.Tensor] = {0: torch.eye(4)}
        self._frame_size: tuple[int, int] | None = None
        self._K_frame: torch.Tensor | None = None
        self._K_net: torch.Tensor | None = None
        self._warned_duplicate = False

    # --------------------------------------------------------------------------------------------- public API
    def predict(self, frames: Iterable, batch_size: int = 1) -> list[FramePrediction]:
        """Depth of every frame of a clip (PIL images or uint8 ``[H,W,3]`` arrays), in order (:meth:`stream`)."""
        return list(self.stream(frames, batch_size))

    def stream(self, frames: Iterable, batch_size: int = 1) -> Iterator[FramePrediction]:
        """The predictions of a clip's frames as they complete, the last one after the clip ends.

        ``batch_size`` frames go through the networks per call (:meth:`push_batch`): 1 streams the clip with one
        frame of latency; larger batches run it offline with the same results, faster where the device has
        parallel work to spare.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.reset()
        batch: list = []
        for frame in frames:
            batch.append(frame)
            if len(batch) == batch_size:
                yield from self.push_batch(batch)
                batch = []
        yield from self.push_batch(batch)
        last = self.flush()
        if last is not None:
            yield last

    def push(self, frame) -> FramePrediction | None:
        """Add the next frame; return the prediction of the previous one (TC-Depth) or of this one (Monodepth2).

        Returns None while no frame is complete (the first push, or an end frame under ``end_mode="drop"``).
        """
        results = self.push_batch([frame])
        return results[0] if results else None

    @torch.no_grad()
    def push_batch(self, frames: list) -> list[FramePrediction]:
        """Add the next frames (one network call for all of them) and return every prediction they complete, in
        order: each frame but the last for TC-Depth (the last waits for its successor), all of them for
        Monodepth2."""
        if not frames:
            return []
        entries = [self._prepare(frame) for frame in frames]
        images = torch.cat([entry.network_input for entry in entries])
        if not self.single_frame:
            context = self.encode_frames(images, self._K_net.expand(len(entries), 3, 3))
            for i, entry in enumerate(entries):
                entry.context = [part[i:i + 1] for part in context]
        if self.pose_net is not None:
            self._chain_poses(entries)
        self._window.update((entry.index, entry) for entry in entries)
        if self.single_frame:
            return self._emit(entries, self.single_frame_disparity(images))
        return self._emit_centres(range(self._emitted, self._pushed - 1))

    @torch.no_grad()
    def flush(self) -> FramePrediction | None:
        """End the stream: the prediction of the last frame (None when there is none left), then :meth:`reset`."""
        results = [] if self.single_frame else self._emit_centres(range(self._emitted, self._pushed))
        self.reset()
        return results[0] if results else None

    # ------------------------------------------------------------------------------------------------ internals
    def _autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=PRECISIONS[self.precision])

    def _prepare(self, frame) -> _Frame:
        image = _as_rgb_array(frame)
        size = image.shape[:2]
        if self._frame_size is None:
            self._set_camera(size)
        elif size != self._frame_size:
            raise ValueError(f"frame {self._pushed} is {size[1]}x{size[0]}, earlier frames are "
                             f"{self._frame_size[1]}x{self._frame_size[0]}")
        resized = Image.fromarray(image).resize((self.width, self.height), Image.Resampling.LANCZOS)
        tensor = torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
        entry = _Frame(self._pushed, image, tensor.to(self.device), None)
        self._pushed += 1
        return entry

    def _set_camera(self, size: tuple[int, int]) -> None:
        self._frame_size = size
        if self.intrinsics is None:
            log.warning("no intrinsics file given: assuming a centred pinhole camera with a %g degree horizontal "
                        "field of view; depth and point clouds are only as right as this guess", self.fov)
            self.intrinsics = Intrinsics.from_fov(size[1], size[0], self.fov)
        self.intrinsics.check_frames(*size)
        self._K_frame = self.intrinsics.K_for(*size)
        self._K_net = self.intrinsics.K_for(self.height, self.width).to(self.device)

    def _emit_centres(self, centres: range) -> list[FramePrediction]:
        """Decode the frames ``centres`` (their triplets in one network call) and forget the frames no later
        triplet needs. A centre's missing neighbour (a clip end) follows ``end_mode``."""
        triplets = []
        for index in centres:
            neighbours = self._fill_ends(self._window[index], self._window.get(index - 1), self._window.get(index + 1))
            if neighbours is not None:
                triplets.append((self._window[index], *neighbours))
        disp = None
        if triplets:
            # context part by part: the views of each triplet stacked [1,3,...], the triplets concatenated [N,3,...]
            stacked = [[torch.stack(views, dim=1) for views in zip(*(frame.context for frame in triplet), strict=True)]
                       for triplet in triplets]
            disp = self.decode_centres(*[torch.cat(part) for part in zip(*stacked, strict=True)])
        emitted = self._emit([centre for centre, _, _ in triplets], disp)
        self._emitted = centres.stop
        self._forget_before(self._emitted - 1)
        return emitted

    def _emit(self, entries: list[_Frame], disp: torch.Tensor | None) -> list[FramePrediction]:
        """Predictions of ``entries`` from their disparities ``[N,1,H,W]``."""
        results = [self._result(entry, disp[i:i + 1]) for i, entry in enumerate(entries)]
        if self.single_frame:
            self._emitted = self._pushed
            self._forget_before(self._pushed - 1)
        return results

    def _forget_before(self, index: int) -> None:
        """Drop the frames and poses before ``index`` (the oldest one a later triplet or pose still uses)."""
        for old in [i for i in self._window if i < index]:
            del self._window[old]
        for old in [i for i in self._camera_to_world if i < index]:
            del self._camera_to_world[old]

    # The per-frame network calls: plain functions of tensors, so that they can be replayed as CUDA graphs.
    def _encode_eager(self, images: torch.Tensor, K: torch.Tensor) -> list[torch.Tensor]:
        """``[N,3,H,W]``, ``K [N,3,3]`` -> the frames' contexts (``TCDepth.frame_context``: encoder features,
        coarse depth, attention kernel, first spatial block), computed once per frame."""
        with self._autocast():
            features = self.depth_net.encode(images)
            return self.depth_net.frame_context(features, K, (self.height, self.width))

    def _decode_eager(self, *context: torch.Tensor) -> torch.Tensor:
        """Triplets' contexts stacked ``[N,3,...]`` -> centre disparities ``[N,1,H,W]``."""
        with self._autocast():
            out = self.depth_net.decode_from_context(context, decode_views=(0,))
        return out["disp"][0][:, 0]

    def _single_disp_eager(self, images: torch.Tensor) -> torch.Tensor:
        """``[N,3,H,W]`` -> Monodepth2 disparities ``[N,1,H,W]``."""
        with self._autocast():
            return self.depth_net(images)["disp"][0]

    def _fill_ends(self, centre: _Frame, previous: _Frame | None,
                   next_frame: _Frame | None) -> tuple[_Frame, _Frame] | None:
        if previous is not None and next_frame is not None:
            return previous, next_frame
        if self.end_mode == "drop":
            return None
        if self.end_mode == "duplicate":
            if not self._warned_duplicate:
                log.warning("end_mode='duplicate': the first/last frame is used as its own missing neighbour "
                            "(the model sees a static camera there)")
                self._warned_duplicate = True
            return previous or centre, next_frame or centre
        if previous is None and next_frame is None:
            raise ValueError("a clip of one frame has no neighbour to mirror; use end_mode='duplicate' or a "
                             "single-frame (monodepth2) checkpoint")
        return previous or next_frame, next_frame or previous

    def _chain_poses(self, entries: list[_Frame]) -> None:
        """Camera poses of ``entries`` from the motion between consecutive frames (one pose-network call)."""
        previous = self._window.get(entries[0].index - 1)
        frames = ([previous] if previous is not None else []) + entries
        if len(frames) < 2:
            return
        with self._autocast():
            axisangle, translation = self.pose_net(torch.cat([f.network_input for f in frames[:-1]]),
                                                   torch.cat([f.network_input for f in frames[1:]]))
        next_to_current = torch.linalg.inv(pose_vec_to_mat(axisangle.float(), translation.float()).cpu())
        for current, following, motion in zip(frames[:-1], frames[1:], next_to_current, strict=True):
            self._camera_to_world[following.index] = self._camera_to_world[current.index] @ motion

    def _result(self, entry: _Frame, disp: torch.Tensor) -> FramePrediction:
        """``disp [1,1,H,W]`` sigmoid disparity at the network size -> prediction at the frame size."""
        scaled, _ = disp_to_depth(disp.float(), self.model_cfg.min_depth, self.model_cfg.max_depth)
        scaled = F.interpolate(scaled, size=self._frame_size, mode="bilinear", align_corners=False)
        depth = (self.scale / scaled)[0, 0].cpu().numpy().astype(np.float32)
        pose = None
        if self.pose_net is not None:
            pose = self._camera_to_world[entry.index].numpy().astype(np.float32).copy()
            pose[:3, 3] *= self.scale
        return FramePrediction(entry.index, entry.image, depth, self._K_frame.numpy().astype(np.float32), pose,
                               self.scale)
