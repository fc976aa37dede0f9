"""Speed of the synthetic renderer: frames/s for rendering alone (RGB + depth + mask) and for rendering with
correspondences (t-3..t+3) and writing the native layout, against a baseline timed in the same run: the same
renderer with primitive culling switched off (every primitive tested against every ray, no front-to-back skip).

Prints one JSON line per image size and number of threads (``--threads``): ``Renderer(threads=N)`` shades N
parallel bands; ``write_sequence(threads=N)`` also computes the correspondences of a frame in N threads and
writes its files while the next frame renders. The ``*_cpu_time`` fields count the CPU time of all threads, so
with N > 1 they measure work, the plain fields the wall-clock gain (the cores may be shared with other jobs).
Usage: python benchmarks/bench_synth.py [--frames N] [--sizes 640x192 ...] [--threads 1 2] [--baseline-frames N]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np
import torch

from tcdepth.runs import describe_device
from tcdepth.synth import Renderer, SynthConfig, build_scene, write_sequence
from tcdepth.synth.raycast import cast
from tcdepth.synth.render import MAX_DISTANCE, cull


def _render_fps(cfg: SynthConfig, seed: int, threads: int = 1) -> tuple[float, float]:
    """Frames per second of wall-clock time and of this process's CPU time (the cores may be shared)."""
    renderer = Renderer(cfg, build_scene(cfg, seed), threads)
    start, cpu = time.perf_counter(), time.process_time()
    for index in range(cfg.frames):
        renderer.frame(index)
    return cfg.frames / (time.perf_counter() - start), cfg.frames / (time.process_time() - cpu)


def _unculled_fps(cfg: SynthConfig, seed: int) -> float:
    """Baseline: cast every primitive within range against the whole image, then shade as the renderer does."""
    scene = build_scene(cfg, seed)
    renderer = Renderer(cfg, scene)
    start = time.perf_counter()
    for index in range(cfg.frames):
        pose = scene.camera_pose(index)
        prims = cull(scene.world_primitives(index), pose[:3, 3])
        windows = np.tile([0, cfg.height, 0, cfg.width], (len(prims), 1))
        rays = renderer.rays @ pose[:3, :3].T.astype(np.float32)
        depth, ids = cast(prims, windows, np.zeros(len(prims)), pose[:3, 3], rays, MAX_DISTANCE)
        renderer._shade(prims, depth, ids, rays, pose[:3, 3])
    return cfg.frames / (time.perf_counter() - start)


def _write_fps(cfg: SynthConfig, seed: int, threads: int) -> tuple[float, float]:
    """Frames per second of wall-clock and CPU time of ``write_sequence`` (render, correspondences, files)."""
    with tempfile.TemporaryDirectory() as tmp:
        start, cpu = time.perf_counter(), time.process_time()
        write_sequence(cfg, seed, tmp, threads=threads)
        return cfg.frames / (time.perf_counter() - start), cfg.frames / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--sizes", nargs="+", default=["640x192", "320x96"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to time")
    parser.add_argument("--baseline-frames", type=int, default=4, help="frames for the slow unculled baseline")
    args = parser.parse_args()
    for size in args.sizes:
        width, height = (int(x) for x in size.split("x"))
        cfg = SynthConfig(width=width, height=height, frames=args.frames)
        _render_fps(SynthConfig(width=width, height=height, frames=3), args.seed)  # warm-up: textures, imports
        baseline = _unculled_fps(SynthConfig(width=width, height=height, frames=args.baseline_frames), args.seed)
        for threads in args.threads:
            render, render_cpu = _render_fps(cfg, args.seed, threads)
            full, full_cpu = _write_fps(cfg, args.seed, threads)
            print(json.dumps({
                "benchmark": "synth", "size": size, "frames": cfg.frames, "device": describe_device("cpu"),
                "torch_threads": torch.get_num_threads(), "threads": threads,
                "torch": torch.__version__, "numpy": np.__version__,
                "load_avg_1min": round(os.getloadavg()[0], 2), "render_fps": round(render, 2),
                "render_fps_cpu_time": round(render_cpu, 2), "render_corr_write_fps": round(full, 2),
                "render_corr_write_fps_cpu_time": round(full_cpu, 2),
                "baseline_unculled_render_fps": round(baseline, 2),
                "speedup_vs_unculled": round(render / baseline, 2),
            }))


if __name__ == "__main__":
    main()
