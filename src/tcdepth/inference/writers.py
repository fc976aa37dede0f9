"""Output files of ``tcdepth predict``: 16-bit PNG and npz depth, colour-mapped PNGs, a side-by-side mp4, coloured
PLY point clouds per frame and one fused cloud. Every file is written atomically (:mod:`tcdepth.io`);
:class:`ClipWriter` removes everything it created when the run fails.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tcdepth.geometry import backproject, invert_intrinsics
from tcdepth.inference.predictor import FramePrediction
from tcdepth.io import atomic_path, atomic_write_bytes, atomic_write_text
from tcdepth.visualize import colorize_depth, save_png

PNG16_FACTOR = 256.0  # KITTI convention for metric depth: uint16 value = metres x 256, 0 = no depth
PNG16_MAX = 65535
PNG16_SCALE_FILE = "scale.json"  # beside the PNGs: the factor of every frame (depth = value / factor)


def depth_to_png16(depth: np.ndarray, factor: float = PNG16_FACTOR) -> np.ndarray:
    """uint16 ``[H,W]`` of ``round(depth * factor)``; non-finite or non-positive depth -> 0, values past 65535
    clipped (256 m with the KITTI factor)."""
    depth = np.asarray(depth, dtype=np.float64)
    valid = np.isfinite(depth) & (depth > 0)
    values = np.where(valid, np.round(np.clip(depth * factor, 0.0, PNG16_MAX)), 0.0)
    return values.astype(np.uint16)


def relative_png16_factor(depth: np.ndarray) -> float:
    """The factor that maps the largest finite depth of a frame to 65535, so that relative depth (network units,
    a fraction of a unit) keeps its precision instead of a few dozen levels of ``x 256``."""
    depth = np.asarray(depth, dtype=np.float64)
    valid = depth[np.isfinite(depth) & (depth > 0)]
    return PNG16_MAX / float(valid.max()) if valid.size else PNG16_FACTOR


def write_depth_png16(path: str | Path, depth: np.ndarray, factor: float = PNG16_FACTOR) -> None:
    """Depth ``[H,W]`` as a 16-bit PNG of ``depth * factor`` (read back: ``png / factor``; KITTI: 256)."""
    buffer = io.BytesIO()
    Image.fromarray(depth_to_png16(depth, factor)).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def write_depth_npz(path: str | Path, prediction: FramePrediction, metric: bool) -> None:
    """``depth`` float32 ``[H,W]``, ``K`` ``[3,3]``, ``scale``, ``metric`` and (when known) ``camera_to_world``."""
    arrays = {"depth": prediction.depth, "K": prediction.K, "scale": np.float32(prediction.scale),
              "metric": np.bool_(metric)}
    if prediction.camera_to_world is not None:
        arrays["camera_to_world"] = prediction.camera_to_world
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def point_cloud(depth: np.ndarray, K: np.ndarray, image: np.ndarray, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame points float32 ``[N,3]`` and colours uint8 ``[N,3]`` of every ``step``-th pixel (rows and
    columns) with finite positive depth."""
    if step < 1:
        raise ValueError(f"point step must be >= 1, got {step}")
    points = backproject(torch.from_numpy(np.ascontiguousarray(depth, dtype=np.float32))[None, None],
                         invert_intrinsics(torch.from_numpy(np.asarray(K, dtype=np.float32))[None]))
    points = points[0].permute(1, 2, 0).numpy()[::step, ::step].reshape(-1, 3)
    colors = np.asarray(image)[::step, ::step].reshape(-1, 3)
    sub = np.asarray(depth)[::step, ::step].reshape(-1)
    keep = np.isfinite(sub) & (sub > 0)
    return points[keep], colors[keep]


def transform_cloud(points: np.ndarray, camera_to_world: np.ndarray) -> np.ndarray:
    """``[N,3]`` camera points -> world points with a ``[4,4]`` camera-to-world pose."""
    return (points @ camera_to_world[:3, :3].T + camera_to_world[:3, 3]).astype(np.float32)


def ply_bytes(points: np.ndarray, colors: np.ndarray, binary: bool = True) -> bytes:
    """PLY (binary little endian or ascii) with vertices ``x y z`` (float) ``red green blue`` (uchar)."""
    points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    colors = np.asarray(colors, dtype=np.uint8).reshape(-1, 3)
    if len(points) != len(colors):
        raise ValueError(f"PLY: {len(points)} points but {len(colors)} colours")
    header = (f"ply\nformat {'binary_little_endian' if binary else 'ascii'} 1.0\nelement vertex {len(points)}\n"
              "property float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n").encode("ascii")
    if binary:
        vertex = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
        table = np.empty(len(points), dtype=vertex)
        for axis, name in enumerate("xyz"):
            table[name] = points[:, axis]
        for channel, name in enumerate(("red", "green", "blue")):
            table[name] = colors[:, channel]
        return header + table.tobytes()
    lines = "".join(f"{x:.6g} {y:.6g} {z:.6g} {r} {g} {b}\n"
                    for (x, y, z), (r, g, b) in zip(points.tolist(), colors.tolist(), strict=True))
    return header + lines.encode("ascii")


def write_ply(path: str | Path, points: np.ndarray, colors: np.ndarray, binary: bool = True) -> None:
    atomic_write_bytes(path, ply_bytes(points, colors, binary))


def side_by_side(image: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """uint8 ``[H, 2W, 3]``: the frame and its colour-mapped depth."""
    return np.concatenate([image, colorize_depth(depth)], axis=1)


class DepthVideoWriter:
    """An H.264 mp4 (PyAV) of frames shown beside their depth; the file appears only when :meth:`close` succeeds."""

    def __init__(self, path: str | Path, fps: float):
        self.path = Path(path)
        self.fps = fps
        self._stack = contextlib.ExitStack()
        self._container = None
        self._stream = None

    def write(self, image: np.ndarray, depth: np.ndarray) -> None:
        import av

        frame = side_by_side(image, depth)
        frame = frame[: frame.shape[0] // 2 * 2, : frame.shape[1] // 2 * 2]  # yuv420p needs even sizes
        if self._container is None:
            tmp = self._stack.enter_context(atomic_path(self.path))
            self._container = self._stack.enter_context(av.open(str(tmp), mode="w"))
            self._stream = self._container.add_stream("libx264", rate=round(self.fps))
            self._stream.width, self._stream.height = frame.shape[1], frame.shape[0]
            self._stream.pix_fmt = "yuv420p"
        for packet in self._stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
            self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and move the file into place."""
        if self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
        self._stack.close()

    def abort(self) -> None:
        """Drop the unfinished file."""
        self._stack.__exit__(RuntimeError, RuntimeError("aborted"), None)


@dataclass
class OutputSelection:
    """Which outputs :class:`ClipWriter` writes, and how."""

    png16: bool = False
    npz: bool = False
    color: bool = False
    video: bool = False
    ply: bool = False
    fused_ply: bool = False
    ply_binary: bool = True
    ply_step: int = 1
    fused_step: int = 4
    fps: float = 10.0

    def any(self) -> bool:
        return any((self.png16, self.npz, self.color, self.video, self.ply, self.fused_ply))


class ClipWriter:
    """Writes the selected outputs of a clip under ``out_dir``::

        depth_png16/000000.png   depth_npz/000000.npz   depth_color/000000.png
        ply/000000.ply           depth_video.mp4        fused.ply

    Use as a context manager: on an exception every file created by this writer is removed.
    """

    FRAME_FOLDERS = {"png16": ("depth_png16", ".png"), "npz": ("depth_npz", ".npz"),
                     "color": ("depth_color", ".png"), "ply": ("ply", ".ply")}
    VIDEO = "depth_video.mp4"
    FUSED_CLOUD = "fused.ply"

    @classmethod
    def frame_path(cls, out_dir: str | Path, output: str, index: int) -> Path:
        """Where the output ``output`` (a key of :attr:`FRAME_FOLDERS`) of frame ``index`` goes."""
        folder, suffix = cls.FRAME_FOLDERS[output]
        return Path(out_dir) / folder / f"{index:06d}{suffix}"

    def __init__(self, out_dir: str | Path, selection: OutputSelection, metric: bool):
        self.out_dir = Path(out_dir)
        self.selection = selection
        self.metric = metric
        self.created: list[Path] = []
        self.num_frames = 0
        self._video = DepthVideoWriter(self.out_dir / self.VIDEO, selection.fps) if selection.video else None
        self._fused_points: list[np.ndarray] = []
        self._fused_colors: list[np.ndarray] = []
        self._png16_factors: dict[str, float] = {}

    def __enter__(self) -> ClipWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _path(self, output: str, index: int) -> Path:
        path = self.frame_path(self.out_dir, output, index)
        self.created.append(path)
        return path

    def write(self, prediction: FramePrediction) -> None:
        s = self.selection
        if s.png16:
            factor = PNG16_FACTOR if self.metric else relative_png16_factor(prediction.depth)
            path = self._path("png16", prediction.index)
            write_depth_png16(path, prediction.depth, factor)
            self._png16_factors[path.stem] = factor
        if s.npz:
            write_depth_npz(self._path("npz", prediction.index), prediction, self.metric)
        if s.color:
            save_png(self._path("color", prediction.index), colorize_depth(prediction.depth))
        if s.ply:
            points, colors = point_cloud(prediction.depth, prediction.K, prediction.image, s.ply_step)
            write_ply(self._path("ply", prediction.index), points, colors, s.ply_binary)
        if s.fused_ply:
            if prediction.camera_to_world is None:
                raise ValueError("the fused point cloud needs camera poses: give a run directory holding a pose "
                                 "network")
            points, colors = point_cloud(prediction.depth, prediction.K, prediction.image, s.fused_step)
            self._fused_points.append(transform_cloud(points, prediction.camera_to_world))
            self._fused_colors.append(colors)
        if self._video is not None:
            self._video.write(prediction.image, prediction.depth)
        self.num_frames += 1

    def close(self) -> None:
        if self._png16_factors:
            path = self.out_dir / self.FRAME_FOLDERS["png16"][0] / PNG16_SCALE_FILE
            self.created.append(path)
            unit = "metres" if self.metric else "network units (relative depth, up to scale)"
            atomic_write_text(path, json.dumps({"depth": f"png / factor, in {unit}; 0 = no depth",
                                                "factor": self._png16_factors}, indent=1) + "\n")
        if self._video is not None:
            self._video.close()
            self.created.append(self._video.path)
        if self.selection.fused_ply and self._fused_points:
            path = self.out_dir / self.FUSED_CLOUD
            self.created.append(path)
            write_ply(path, np.concatenate(self._fused_points), np.concatenate(self._fused_colors),
                      self.selection.ply_binary)

    def abort(self) -> None:
        if self._video is not None:
            self._video.abort()
        for path in self.created:
            path.unlink(missing_ok=True)
        for folder, _ in self.FRAME_FOLDERS.values():
            with contextlib.suppress(OSError):
                (self.out_dir / folder).rmdir()  # only when this run left it empty
