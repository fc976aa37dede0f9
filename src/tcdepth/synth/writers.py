"""Writing rendered sequences to disk: the native layout and a KITTI-raw drive, with split files.

Every file is written atomically (``tcdepth.io``).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tcdepth.data.intrinsics import save_intrinsics
from tcdepth.data.synthetic import SyntheticLayout
from tcdepth.io import atomic_path, atomic_write_bytes, atomic_write_text
from tcdepth.synth.config import SynthConfig
from tcdepth.synth.correspondence import Reprojection
from tcdepth.synth.lidar import MOUNT_HEIGHT, lidar_scan
from tcdepth.synth.render import Frame, Renderer
from tcdepth.synth.scene import build_scene
from tcdepth.visualize import save_png

Progress = Callable[[int], None]
MAX_THREADS = 8  # more bands than this gain nothing at KITTI-like sizes
KITTI_DATE = "2000_01_01"
CAM2_OFFSET = 0.06  # metres: camera 2 sits left of camera 0, as in KITTI
STEREO_BASELINE = 0.54  # metres between image_02 and image_03
# velodyne -> camera axes: x_cam = -y_velo, y_cam = -z_velo, z_cam = x_velo
VELO_AXES = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
VELO_BEHIND_CAMERA = 0.27
R_RECT_00 = (np.array([[1, 0, 0], [0, np.cos(0.004), -np.sin(0.004)], [0, np.sin(0.004), np.cos(0.004)]])
             @ np.array([[np.cos(-0.007), 0, np.sin(-0.007)], [0, 1, 0], [-np.sin(-0.007), 0, np.cos(-0.007)]]))


def sequence_seed(seed: int, sequence: int) -> int:
    """Seed of sequence number ``sequence`` of a dataset generated with ``seed``."""
    return seed * 100_003 + sequence


def save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def _with_neighbours(cfg: SynthConfig, renderer: Renderer, reach: int):
    """Yield ``(frame, {offset: neighbour frame})`` for every frame, keeping only ``2 * reach + 1`` in memory."""
    window: dict[int, Frame] = {}
    for index in range(cfg.frames + reach):
        if index < cfg.frames:
            window[index] = renderer.frame(index)
        centre = index - reach
        if centre < 0:
            continue
        neighbours = {k: window[centre + k] for k in range(-reach, reach + 1) if k and centre + k in window}
        yield window[centre], neighbours
        window.pop(centre - reach, None)


def default_threads(workers: int = 1) -> int:
    """Threads per process: all cores (at most ``MAX_THREADS``) when one process renders, else 1 per worker."""
    return 1 if workers > 1 else max(1, min(os.cpu_count() or 1, MAX_THREADS))


def _check_threads(threads: int | None, workers: int = 1) -> int:
    if threads is None:
        return default_threads(workers)
    if threads < 1:
        raise ValueError(f"threads: expected at least 1, got {threads}")
    return threads


def _save_native_frame(layout: SyntheticLayout, sequence: str, frame: Frame, arrays: dict[str, np.ndarray]) -> None:
    save_png(layout.rgb(sequence, frame.index), frame.rgb)
    save_npy(layout.depth(sequence, frame.index), frame.depth)
    save_png(layout.moving(sequence, frame.index), frame.moving_mask.astype(np.uint8) * 255)
    if arrays:  # none with flow_range 0
        with atomic_path(layout.correspondences(sequence, frame.index)) as tmp:
            np.savez(tmp, **arrays)


def write_sequence(cfg: SynthConfig, seed: int, out_dir: str | Path, progress: Progress | None = None,
                   threads: int | None = None) -> Path:
    """Render one sequence into ``out_dir`` in the native layout (see docs/synthetic_data.md).

    ``threads`` (default ``default_threads()``) shade bands of each frame, compute the correspondences to the
    neighbours of a frame and write its files while the next frame renders; the files do not depend on it.
    """
    threads = _check_threads(threads)
    out_dir = Path(out_dir)
    layout, sequence = SyntheticLayout(out_dir.parent), out_dir.name
    renderer = Renderer(cfg, build_scene(cfg, seed), threads)
    save_intrinsics(cfg.intrinsics(), layout.intrinsics(sequence))
    poses = []
    pending: Future | None = None
    with ThreadPoolExecutor(threads) as pool:
        for frame, neighbours in _with_neighbours(cfg, renderer, cfg.flow_range):
            reprojection = Reprojection(frame, renderer.K, renderer.rays)
            offsets = sorted(neighbours)
            found = pool.map(reprojection.correspondences, [neighbours[k] for k in offsets],
                             [cfg.visibility_tolerance] * len(offsets))
            arrays = {}
            for k, (coords, visible) in zip(offsets, found, strict=True):
                arrays[f"coords_{k:+d}"], arrays[f"visible_{k:+d}"] = coords, visible
            if pending is not None:
                pending.result()
            pending = pool.submit(_save_native_frame, layout, sequence, frame, arrays)
            poses.append(frame.pose)
            if progress:
                progress(1)
        if pending is not None:
            pending.result()
    save_npy(layout.poses(sequence), np.stack(poses))
    return out_dir


def _split_entries(names: list[str], frames: int) -> dict[str, list[tuple[str, int]]]:
    """Train/val/test ``(sequence, frame)`` entries: frames with both neighbours; the last two sequences are
    val and test when there are three or more, otherwise frames are split 70/15/15 in order."""
    eligible = range(1, frames - 1)
    if len(names) >= 3:
        return {"train": [(n, f) for n in names[:-2] for f in eligible],
                "val": [(names[-2], f) for f in eligible], "test": [(names[-1], f) for f in eligible]}
    entries = [(n, f) for n in names for f in eligible]
    a, b = int(round(0.7 * len(entries))), int(round(0.85 * len(entries)))
    return {"train": entries[:a], "val": entries[a:b], "test": entries[b:]}


def sequence_names(sequences: int) -> list[str]:
    """Folder names of the native layout's sequences, in order: ``seq_000``, ``seq_001``, ..."""
    return [f"seq_{i:03d}" for i in range(sequences)]


def _write_sequence_job(job: tuple[SynthConfig, int, Path, int]) -> int:
    cfg, seed, out_dir, threads = job
    write_sequence(cfg, seed, out_dir, threads=threads)
    return cfg.frames


def write_native(cfg: SynthConfig, root: str | Path, sequences: int, seed: int,
                 progress: Progress | None = None, workers: int = 1, threads: int | None = None) -> Path:
    """Render the sequences (in ``workers`` processes when > 1, each with ``threads`` threads, default
    ``default_threads(workers)``; the output depends on neither)."""
    root = Path(root)
    threads = _check_threads(threads, workers)
    names = sequence_names(sequences)
    jobs = [(cfg, sequence_seed(seed, i), root / name, threads) for i, name in enumerate(names)]
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(min(workers, sequences)) as pool:
            for frames in pool.imap_unordered(_write_sequence_job, jobs):
                if progress:
                    progress(frames)
    else:
        for _, sequence_seed_, out_dir, _ in jobs:
            write_sequence(cfg, sequence_seed_, out_dir, progress, threads)
    for split, entries in _split_entries(names, cfg.frames).items():
        atomic_write_text(SyntheticLayout(root).split(split), "".join(f"{n} {f}\n" for n, f in entries))
    return root


def _fmt(values) -> str:
    return " ".join(f"{float(v):.9e}" for v in np.asarray(values).ravel())


def camera_velo_transform(cfg: SynthConfig) -> np.ndarray:
    """``[4,4]`` velodyne-to-camera-2 transform: sensor 1.73 m above the ground, 0.27 m behind the camera."""
    T = np.eye(4)
    T[:3, :3] = VELO_AXES
    T[:3, 3] = [0.0, cfg.camera_height - MOUNT_HEIGHT, -VELO_BEHIND_CAMERA]
    return T


def kitti_calibration(cfg: SynthConfig) -> tuple[str, str]:
    """Text of ``calib_cam_to_cam.txt`` and ``calib_velo_to_cam.txt`` for the rendered camera (= camera 2).

    Rectified camera 0 is camera 2 moved ``CAM2_OFFSET`` to the right; ``R_rect_00`` is a small rotation that
    ``Tr_velo_to_cam`` undoes, so ``P_rect_02 R_rect_00 Tr_velo_to_cam x_velo`` lands on image_02 pixels.
    """
    K = cfg.intrinsics().K().double().numpy()
    size = [cfg.width, cfg.height]
    centres = {0: 0.0, 1: STEREO_BASELINE, 2: -CAM2_OFFSET, 3: STEREO_BASELINE - CAM2_OFFSET}
    lines = ["calib_time: 01-Jan-2000 00:00:00", "corner_dist: 9.950000e-02"]
    for cam, x in centres.items():
        P = np.hstack([K, K @ np.array([[-x], [0.0], [0.0]])])
        rect = R_RECT_00 if cam == 0 else np.eye(3)
        lines += [f"S_0{cam}: {_fmt(size)}", f"K_0{cam}: {_fmt(K)}", f"D_0{cam}: {_fmt(np.zeros(5))}",
                  f"R_0{cam}: {_fmt(np.eye(3))}", f"T_0{cam}: {_fmt([-x, 0.0, 0.0])}",
                  f"S_rect_0{cam}: {_fmt(size)}", f"R_rect_0{cam}: {_fmt(rect)}", f"P_rect_0{cam}: {_fmt(P)}"]
    cam_to_cam = "\n".join(lines) + "\n"
    T = camera_velo_transform(cfg)
    rect_from_cam2 = T[:3, 3] - np.array([CAM2_OFFSET, 0.0, 0.0])
    R = R_RECT_00.T @ T[:3, :3]
    t = R_RECT_00.T @ rect_from_cam2
    velo_to_cam = (f"calib_time: 01-Jan-2000 00:00:00\nR: {_fmt(R)}\nT: {_fmt(t)}\n"
                   f"delta_f: {_fmt([0, 0])}\ndelta_c: {_fmt([0, 0])}\n")
    return cam_to_cam, velo_to_cam


def write_kitti(cfg: SynthConfig, root: str | Path, sequences: int, seed: int, stereo: bool = False,
                progress: Progress | None = None, threads: int | None = None) -> Path:
    """Render ``sequences`` drives as KITTI raw data under ``root/<date>/``, with poses and split files
    (renderer threads: ``threads``, default ``default_threads()``; the output does not depend on it)."""
    root = Path(root)
    threads = _check_threads(threads)
    cam_to_cam, velo_to_cam = kitti_calibration(cfg)
    atomic_write_text(root / KITTI_DATE / "calib_cam_to_cam.txt", cam_to_cam)
    atomic_write_text(root / KITTI_DATE / "calib_velo_to_cam.txt", velo_to_cam)
    velo_to_cam2 = camera_velo_transform(cfg)
    cam0_to_cam2 = np.eye(4)  # x_cam2 = x_cam0 + CAM2_OFFSET e_x (P_rect_02's offset)
    cam0_to_cam2[0, 3] = CAM2_OFFSET
    drives = []
    for i in range(sequences):
        drive = f"{KITTI_DATE}_drive_{i + 1:04d}"
        drives.append(drive)
        scene = build_scene(cfg, sequence_seed(seed, i))
        renderer = Renderer(cfg, scene, threads)
        base = root / KITTI_DATE / f"{drive}_sync"
        cam0_poses = []
        for index in range(cfg.frames):
            frame = renderer.frame(index)
            name = f"{index:010d}"
            save_png(base / "image_02" / "data" / f"{name}.png", frame.rgb)
            if stereo:
                right = renderer.frame(index, camera_offset=np.array([STEREO_BASELINE, 0.0, 0.0]))
                save_png(base / "image_03" / "data" / f"{name}.png", right.rgb)
            scan = lidar_scan(scene, index, frame.pose @ velo_to_cam2)
            atomic_write_bytes(base / "velodyne_points" / "data" / f"{name}.bin", scan.tobytes())
            cam0_poses.append(frame.pose @ cam0_to_cam2)
            if progress:
                progress(1)
        first = np.linalg.inv(cam0_poses[0])
        atomic_write_text(root / "poses" / f"{drive}.txt",
                          "".join(_fmt((first @ p)[:3]) + "\n" for p in cam0_poses))
    entries = _split_entries(drives, cfg.frames)
    names = {"train": "train_files.txt", "val": "val_files.txt", "test": "test_files.txt"}
    for split, items in entries.items():
        digits = 10 if split == "test" else 0
        text = "".join(f"{KITTI_DATE}/{d}_sync {f:0{digits}d} l\n" for d, f in items)
        atomic_write_text(root / "splits" / "eigen_like" / names[split], text)
    return root


def write_dataset(cfg: SynthConfig, root: str | Path, sequences: int = 1, seed: int = 0, layout: str = "native",
                  stereo: bool = False, progress: Progress | None = None, workers: int = 1,
                  threads: int | None = None) -> Path:
    """Render ``sequences`` sequences into ``root`` in the ``native`` or ``kitti`` layout (native: ``workers``
    processes render sequences in parallel). ``threads`` per process, default ``default_threads(workers)``: all
    cores (at most ``MAX_THREADS``) with one process, else 1. The output depends on neither."""
    if sequences < 1:
        raise ValueError(f"sequences: expected at least 1, got {sequences}")
    if layout == "native":
        if stereo:
            raise ValueError("stereo (image_03) exists only in the kitti layout")
        return write_native(cfg, root, sequences, seed, progress, workers, threads)
    if layout == "kitti":
        return write_kitti(cfg, root, sequences, seed, stereo, progress, threads)
    raise ValueError(f"layout: expected 'native' or 'kitti', got {layout!r}")
