"""Streaming (each frame encoded once, centre decoded only) vs naive per-triplet forward, one JSON line per config.

Usage: python benchmarks/bench_streaming.py [--device cpu] [--frames 12] [--sizes 96x320 192x640]
          [--encoders drn_tiny drn_c_26] [--tiny-widths 0.25 0.125] [--decoder-widths 1.0 0.25]
          [--reference-bins 256 64] [--num-blocks 3 1] [--attention-impls auto dense] [--precisions fp32 bf16]
          [--threads 1 2] [--repeats 2]
       python benchmarks/bench_streaming.py --configs configs/synthetic_tiny.yaml configs/synthetic_tiny_fast.yaml
          [--sizes ...] [--precisions ...] [--threads ...]
The model settings are every combination of the grid options, or the 'model:' sections of the --configs files.
Random weights; the naive fp32 path is the baseline of every row: both paths are timed in the same run and the
streaming output (at each precision) is compared with it (max relative difference of depth). All configurations
are built first and timed interleaved (repeat 1 of every config, then repeat 2, ...), best of the repeats, so that
a changing load on shared cores affects them alike; each row gives the 1-minute load average before and after.
On cores shared with another busy process, time with --threads 1: more torch threads than free cores make every
parallel region wait for a descheduled thread (tens of times slower).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from tcdepth.data.intrinsics import Intrinsics
from tcdepth.experiment import load_model_section
from tcdepth.inference import Predictor
from tcdepth.models import ModelConfig, build_model
from tcdepth.runs import describe_device


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


@dataclass
class Variant:
    """One benchmarked configuration, built and warmed up, with its timings over the repeats."""

    cfg: ModelConfig
    source: str | None
    size: str
    precision: str
    threads: int
    predictor: Predictor
    frames: list[np.ndarray]
    images: list[torch.Tensor]
    K: torch.Tensor
    naive_s: list[float] = field(default_factory=list)
    streaming_s: list[float] = field(default_factory=list)
    max_rel_depth_diff: float = 0.0


def build_variant(cfg: ModelConfig, source: str | None, size: str, precision: str, threads: int, num_frames: int,
                  device: torch.device) -> Variant:
    torch.set_num_threads(threads)
    height, width = (int(x) for x in size.split("x"))
    torch.manual_seed(0)
    predictor = Predictor(build_model(cfg), cfg, height=height, width=width, device=device,
                          intrinsics=Intrinsics.from_fov(width, height, 60.0), precision=precision)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(num_frames)]
    images = [torch.from_numpy(f.astype(np.float32) / 255).permute(2, 0, 1).to(device) for f in frames]
    K = predictor.intrinsics.K_for(height, width)[None].to(device)
    variant = Variant(cfg, source, size, precision, threads, predictor, frames, images, K)
    naive(predictor, images[:3], K)  # warm-up
    predictor.predict(frames[:3])
    return variant


def time_once(variant: Variant, device: torch.device) -> None:
    """One timed naive run and one timed streaming run; the depth difference is taken from the streaming run."""
    torch.set_num_threads(variant.threads)
    sync(device)
    start = time.perf_counter()
    reference = naive(variant.predictor, variant.images, variant.K)
    sync(device)
    variant.naive_s.append(time.perf_counter() - start)
    start = time.perf_counter()
    results = variant.predictor.predict(variant.frames)
    sync(device)
    variant.streaming_s.append(time.perf_counter() - start)
    cfg = variant.cfg
    # same frame size as the network: the predictor's depth is 1/scaled disparity of the same map
    ref_depth = [1.0 / (1 / cfg.max_depth + (1 / cfg.min_depth - 1 / cfg.max_depth) * r.float().cpu()[0, 0].numpy())
                 for r in reference]
    variant.max_rel_depth_diff = max(float(np.abs(r.depth / d - 1).max())
                                     for r, d in zip(results, ref_depth, strict=True))


def model_configs(args: argparse.Namespace) -> list[tuple[str | None, ModelConfig]]:
    """``(config file or None, ModelConfig)`` of every timed model: the --configs files, or the grid."""
    if args.configs:
        return [(path, load_model_section(path)) for path in args.configs]
    encoders = [(encoder, width) for encoder in args.encoders
                for width in (args.tiny_widths if encoder == "drn_tiny" else [1.0])]
    return [(None, ModelConfig(encoder=encoder, tiny_width=tiny_width, decoder_width=decoder_width,
                               num_reference_bins=bins, num_blocks=blocks, attention_impl=impl))
            for (encoder, tiny_width), decoder_width, bins, blocks, impl in itertools.product(
                encoders, args.decoder_widths, args.reference_bins, args.num_blocks, args.attention_impls)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--sizes", nargs="+", default=["96x320"])
    parser.add_argument("--configs", nargs="+", default=None,
                        help="YAML files whose 'model:' sections are timed (replaces the model grid options)")
    parser.add_argument("--encoders", nargs="+", default=["drn_tiny"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tiny-widths", nargs="+", type=float, default=[0.25], help="widths of drn_tiny")
    parser.add_argument("--decoder-widths", nargs="+", type=float, default=[1.0], help="model.decoder_width")
    parser.add_argument("--reference-bins", nargs="+", type=int, default=[256], help="model.num_reference_bins")
    parser.add_argument("--num-blocks", nargs="+", type=int, default=[3], help="model.num_blocks")
    parser.add_argument("--attention-impls", nargs="+", default=["auto"], choices=["auto", "chunked", "dense"],
                        help="model.attention_impl")
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--threads", nargs="+", type=int, default=[torch.get_num_threads()],
                        help="torch intra-op threads (default: torch's default)")
    args = parser.parse_args()
    device = torch.device(args.device)
    load_before = os.getloadavg()[0]
    variants = [build_variant(cfg, source, size, precision, threads, args.frames, device)
                for (source, cfg), size, precision, threads
                in itertools.product(model_configs(args), args.sizes, args.precisions, args.threads)]
    for _ in range(args.repeats):
        for variant in variants:
            time_once(variant, device)
    load_after = os.getloadavg()[0]
    for variant in variants:
        cfg = variant.cfg
        naive_s, stream_s = min(variant.naive_s), min(variant.streaming_s)
        print(json.dumps({
            "bench": "streaming", "config": variant.source, "encoder": cfg.encoder,
            "tiny_width": cfg.tiny_width if cfg.encoder == "drn_tiny" else None,
            "decoder_width": cfg.decoder_width, "num_reference_bins": cfg.num_reference_bins,
            "num_blocks": cfg.num_blocks, "attention_impl": cfg.attention_impl, "size": variant.size,
            "precision": variant.precision,
            "frames": args.frames, "repeats": args.repeats, "threads": variant.threads,
            "device": describe_device(str(device)),
            "torch": torch.__version__, "load_avg_1m_before": round(load_before, 2),
            "load_avg_1m_after": round(load_after, 2), "naive_fps": round(args.frames / naive_s, 3),
            "streaming_fps": round(args.frames / stream_s, 3), "speedup_vs_naive": round(naive_s / stream_s, 3),
            "max_rel_depth_diff": variant.max_rel_depth_diff}))


if __name__ == "__main__":
    main()
