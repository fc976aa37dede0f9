"""Activation memory and time of the attention vs naive N^2 formulas, over attention grids 24x80 .. 40x128.

For each grid (one triplet: 3 views, 512 channels) and implementation, prints one JSON line with the bytes saved for
backward (measured with ``torch.autograd.graph.saved_tensors_hooks``, distinct storages), on CUDA also the peak
allocated memory of forward+backward, and the forward+backward time, each as a ratio to the naive formula timed
in the same run. Usage: ``python benchmarks/bench_attention_memory.py [--device cuda] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from functools import partial

import torch

from tcdepth.models.attention import GeometricKernel, TemporalAttention
from tcdepth.models.summary import saved_for_backward
from tcdepth.runs import describe_device

GRIDS = ((24, 80), (32, 104), (40, 128))
SIGMA = 0.25


def naive_spatial(points, values):
    """softmax(-||P_j - P_i|| / (2 sigma)) @ V through autograd: keeps the N x N weights for backward."""
    dist = (points[:, :, None] - points[:, None]).norm(dim=-1)
    weights = torch.softmax(-dist / (2 * SIGMA), dim=-1)
    return values @ weights.transpose(1, 2)


def kernel_aggregate(points, values, impl):
    return GeometricKernel(points, SIGMA, impl).aggregate(values)


def naive_temporal(block, x):
    """Temporal block with an explicit softmax per (query view, key view) pair."""
    b, v, c, h, w = x.shape
    qk, val = block._project(x)
    outs = []
    for r in range(3):
        summed = 0
        for a in (i for i in range(3) if i != r):
            att = torch.softmax(qk[:, r] @ qk[:, a].transpose(1, 2) / math.sqrt(qk.shape[-1]), dim=-1)
            summed = summed + block.out((att @ val[:, a]).transpose(1, 2).reshape(b, -1, h, w))
        outs.append(x[:, r] + block.fuse(torch.cat([x[:, r], summed], dim=1)))
    return torch.stack(outs, 1)


def fwd_bwd(fn, inputs, repeats: int, device: torch.device) -> tuple[float, int | None]:
    peak = None
    times = []
    for _ in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        start = time.perf_counter()
        out = fn()
        torch.autograd.grad(out.sum(), inputs)
        if device.type == "cuda":
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() - base
        times.append(time.perf_counter() - start)
        del out
    return min(times[1:]), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--channels", type=int, default=512)
    args = parser.parse_args()
    device = torch.device(args.device)
    device_name = describe_device(str(device))
    torch.manual_seed(0)
    block = TemporalAttention(args.channels).to(device)
    for h, w in GRIDS:
        n = h * w
        points = (torch.randn(3, n, 3, device=device) + torch.tensor([0.0, 0.0, 10.0], device=device))
        values = torch.randn(3, args.channels, n, device=device, requires_grad=True)
        x = torch.randn(1, 3, args.channels, h, w, device=device, requires_grad=True)
        cases = {
            ("spatial", "naive"): (partial(naive_spatial, points, values), [values]),
            ("spatial", "chunked"): (partial(kernel_aggregate, points, values, "chunked"), [values]),
            ("spatial", "dense"): (partial(kernel_aggregate, points, values, "dense"), [values]),
            ("temporal", "naive"): (partial(naive_temporal, block, x), [x]),
            ("temporal", "sdpa"): (partial(block, x), [x]),
        }
        results = {}
        for (component, impl), (fn, inputs) in cases.items():
            mem = saved_for_backward(fn)[1]
            seconds, peak = fwd_bwd(fn, inputs, args.repeats, device)
            results[(component, impl)] = (mem, seconds, peak)
        for (component, impl), (mem, seconds, peak) in results.items():
            base_mem, base_s, base_peak = results[(component, "naive")]
            row = {"bench": "attention_memory", "component": component, "impl": impl, "grid": f"{h}x{w}", "N": n,
                   "channels": args.channels, "views": 3, "saved_bytes": mem,
                   "saved_ratio_vs_naive": round(mem / base_mem, 4), "fwd_bwd_s": round(seconds, 5),
                   "time_ratio_vs_naive": round(seconds / base_s, 3), "device": device_name,
                   "torch": torch.__version__}
            if peak is not None:
                row.update(peak_bytes=peak, peak_ratio_vs_naive=round(peak / base_peak, 4))
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
