"""Streaming (each frame encoded once, centre decoded only) vs naive per-triplet forward, one JSON line per config.

Usage: python benchmarks/bench_streaming.py [--device cpu] [--frames 12] [--sizes 96x320 192x640]
          [--encoders drn_tiny drn_c_26] [--tiny-widths 0.25 0.125] [--precisions fp32 bf16]
Random weights; the naive fp32 path is the baseline of every row: both paths are timed in the same run and the
streaming output (at each precision) is compared with it (max relative difference of depth).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import numpy as np
import torch

from tcdepth.data.intrinsics import Intrinsics
from tcdepth.inference import Predictor
from tcdepth.models import ModelConfig, build_model


def naive(predictor: Predictor, images: list[torch.Tensor], K: torch.Tensor) -> list[torch.Tensor]:
    """Full forward of every mirrored-end triplet: three encodings and three decodings per output frame."""
    n = len(images)
    out = []
    with torch.no_grad():
        for t in range(n):
            prev = t - 1 if t > 0 else t + 1
            nxt = t + 1 if t < n - 1 else t - 1
            triplet = torch.stack([images[t], images[prev], images[nxt]])[None]
            out.append(predictor.depth_net(triplet, K)["disp"][0][:, 0])
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--sizes", nargs="+", default=["96x320"])
    parser.add_argument("--encoders", nargs="+", default=["drn_tiny"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tiny-widths", nargs="+", type=float, default=[0.25], help="widths of drn_tiny")
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16", "fp16"])
    args = parser.parse_args()
    device = torch.device(args.device)
    configs = [(encoder, width) for encoder in args.encoders
               for width in (args.tiny_widths if encoder == "drn_tiny" else [1.0])]
    for (encoder, tiny_width), size, precision in itertools.product(configs, args.sizes, args.precisions):
        height, width = (int(x) for x in size.split("x"))
        cfg = ModelConfig(encoder=encoder, tiny_width=tiny_width)
        torch.manual_seed(0)
        predictor = Predictor(build_model(cfg), cfg, height=height, width=width, device=device,
                              intrinsics=Intrinsics.from_fov(width, height, 60.0), precision=precision)
        rng = np.random.default_rng(0)
        frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(args.frames)]
        images = [torch.from_numpy(f.astype(np.float32) / 255).permute(2, 0, 1).to(device) for f in frames]
        K = predictor.intrinsics.K_for(height, width)[None].to(device)
        naive(predictor, images[:3], K)  # warm-up
        predictor.predict(frames[:3])
        times = {"naive": [], "streaming": []}
        for _ in range(args.repeats):
            sync(device)
            start = time.perf_counter()
            reference = naive(predictor, images, K)
            sync(device)
            times["naive"].append(time.perf_counter() - start)
            start = time.perf_counter()
            results = predictor.predict(frames)
            sync(device)
            times["streaming"].append(time.perf_counter() - start)
        # same frame size as the network: the predictor's depth is 1/scaled disparity of the same map
        ref_depth = [1.0 / (1 / cfg.max_depth + (1 / cfg.min_depth - 1 / cfg.max_depth)
                            * r.float().cpu()[0, 0].numpy()) for r in reference]
        max_rel = max(float(np.abs(r.depth / d - 1).max()) for r, d in zip(results, ref_depth, strict=True))
        naive_s, stream_s = min(times["naive"]), min(times["streaming"])
        print(json.dumps({
            "bench": "streaming", "encoder": encoder, "tiny_width": tiny_width if encoder == "drn_tiny" else None,
            "size": size, "precision": precision, "frames": args.frames, "threads": torch.get_num_threads(),
            "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
            "torch": torch.__version__, "naive_fps": round(args.frames / naive_s, 3),
            "streaming_fps": round(args.frames / stream_s, 3), "speedup_vs_naive": round(naive_s / stream_s, 3),
            "max_rel_depth_diff": max_rel}))


if __name__ == "__main__":
    main()
