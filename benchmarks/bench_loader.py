"""The training data pipeline alone: CPU cost of one training sample, and the loader cores a GPU step rate needs.

Reads training samples exactly as ``tcdepth train`` does (``build_dataset(..., augment=True)``: three frames
decoded, resized, flipped and colour-jittered, the image pyramid, intrinsics) from a synthetic dataset in the native
layout, one process, one torch thread, and prints one JSON line: wall and CPU milliseconds per sample, samples/s per
core, and the loader processes (``data.num_workers``) needed to feed each ``--target-rates`` samples/s (GPU step
rates measured in benchmarks/README.md).

    python benchmarks/bench_loader.py [--root DATA] [--height 192 --width 640] [--samples 60]
        [--target-rates 48.6 64.4 96]

Without ``--root`` a dataset of two 30-frame sequences is rendered into a temporary folder first (not timed).
CPU time (``time.process_time``) does not depend on other jobs sharing the cores; wall time does.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import tempfile
import time
from pathlib import Path

import torch

from tcdepth.data import build_dataset
from tcdepth.data.config import DataConfig
from tcdepth.runs import describe_device
from tcdepth.synth import SynthConfig, write_dataset


def time_samples(root: Path, args) -> dict:
    cfg = DataConfig(dataset="synthetic", path=str(root), height=args.height, width=args.width, depth_gt=False)
    dataset = build_dataset(cfg, "train", augment=True)
    order = list(range(len(dataset)))
    random.Random(0).shuffle(order)
    order = (order * math.ceil(args.samples / len(order)))[:args.samples]
    dataset[order[0]]  # first-touch costs (imports, file cache) are not counted
    wall, cpu = time.perf_counter(), time.process_time()
    for index in order:
        dataset[index]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    cpu_ms = cpu / len(order) * 1e3
    return {
        "bench": "loader", "dataset": "synthetic (native layout, png)", "resolution": f"{args.height}x{args.width}",
        "samples": len(order), "device": describe_device("cpu"),
        "torch": torch.__version__, "load_avg_1min": round(os.getloadavg()[0], 2),
        "wall_ms_per_sample": round(wall / len(order) * 1e3, 2), "cpu_ms_per_sample": round(cpu_ms, 2),
        "samples_per_s_per_core": round(1e3 / cpu_ms, 1),
        "workers_needed": {str(rate): math.ceil(rate * cpu_ms / 1e3) for rate in args.target_rates},
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="a native-layout synthetic dataset (tcdepth synth)")
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--target-rates", type=float, nargs="+", default=[48.6, 64.4, 96.0])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.root is not None:
        print(json.dumps(time_samples(args.root, args)), flush=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        write_dataset(SynthConfig(width=args.width, height=args.height, frames=30), Path(tmp), sequences=2, seed=0)
        print(json.dumps(time_samples(Path(tmp), args)), flush=True)


if __name__ == "__main__":
    main()
