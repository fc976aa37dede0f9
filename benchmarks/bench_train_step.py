"""Training-step and inference speed of the full TC-Depth model (paper configuration), one JSON line per setting.

Every setting trains the same architecture with the same losses on the same random batch: DRN-C-26, 3 spatial-
temporal blocks, pose network, frozen Monodepth2 teacher, all TC-Depth losses. The first setting (``plain``: fp32,
dense attention, NCHW) is the baseline of the run; each line reports ``speedup_vs_plain`` against it, measured in the
same process on the same device.

    python benchmarks/bench_train_step.py --device cuda --batch 6 --height 192 --width 640
    python benchmarks/bench_train_step.py --device cpu --batch 1 --settings plain --inference

Peak FLOP/s for the model FLOPs utilisation (MFU) is the bf16 dense tensor peak of the device when known (H100 SXM:
989 TFLOP/s), else it is omitted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from tcdepth.geometry import intrinsics_at_scale, invert_intrinsics, make_intrinsics
from tcdepth.models import ModelConfig, build_model, save_weights
from tcdepth.training.config import ExperimentConfig, TeacherConfig, TrainConfig
from tcdepth.training.module import DepthModule

BF16_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}

# name -> (autocast dtype or None, attention implementation, channels_last)
SETTINGS = {
    "plain": (None, "dense", False),
    "plain_chunked": (None, "chunked", False),
    "bf16": (torch.bfloat16, "dense", False),
    "bf16_channels_last": (torch.bfloat16, "dense", True),
    "bf16_channels_last_chunked": (torch.bfloat16, "chunked", True),
}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def peak_tflops(device: torch.device) -> float | None:
    name = device_name(device)
    return next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)


def random_batch(batch: int, height: int, width: int, device: torch.device) -> dict:
    """A batch in the dataset layout (docs/architecture.md) with random frames and KITTI-like intrinsics."""
    g = torch.Generator().manual_seed(0)
    K = make_intrinsics(0.58 * width, 1.92 * height, 0.5 * width, 0.5 * height)
    out = {}
    for s in range(4):
        frames = torch.rand(batch, 3, 3, height >> s, width >> s, generator=g)
        out[f"color_{s}"] = frames.to(device)
        out[f"color_aug_{s}"] = frames.to(device)
        Ks = intrinsics_at_scale(K, s)
        out[f"K_{s}"] = Ks.expand(batch, 3, 3).contiguous().to(device)
        out[f"inv_K_{s}"] = invert_intrinsics(Ks).expand(batch, 3, 3).contiguous().to(device)
    return out


def build_module(attention_impl: str, teacher_path: Path, device: torch.device) -> DepthModule:
    cfg = ExperimentConfig(
        model=ModelConfig(encoder="drn_c_26", attention_impl=attention_impl),
        train=TrainConfig(teacher=TeacherConfig(mode="checkpoint", path=str(teacher_path))),
    )
    return DepthModule(cfg).to(device)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step, device: torch.device, warmup: int, iters: int) -> float:
    for _ in range(warmup):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(iters):
        step()
    synchronize(device)
    return (time.perf_counter() - start) / iters


def bench_training(name: str, args, teacher_path: Path, device: torch.device) -> dict:
    dtype, impl, channels_last = SETTINGS[name]
    module = build_module(impl, teacher_path, device)
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    module.train()
    optimizer = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=1e-4)
    batch = random_batch(args.batch, args.height, args.width, device)
    autocast = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype else contextlib.nullcontext

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            total = module.compute_loss(batch)[0]
        total.backward()
        optimizer.step()
        return total

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds = time_steps(step, device, args.warmup, args.iters)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    result = {
        "bench": "train_step", "setting": name, "device": device_name(device), "torch": torch.__version__,
        "dtype": str(dtype or torch.float32).replace("torch.", ""), "attention": impl, "channels_last": channels_last,
        "batch": args.batch, "resolution": f"{args.height}x{args.width}", "s_per_step": round(seconds, 4),
        "samples_per_s": round(args.batch / seconds, 2), "peak_mem_gib": None if peak is None else round(peak, 2),
        "tflop_per_step": round(flops / 1e12, 3), "achieved_tflops": round(flops / seconds / 1e12, 1),
    }
    peak_tf = peak_tflops(device)
    if peak_tf:
        result["mfu_vs_bf16_peak"] = round(flops / seconds / 1e12 / peak_tf, 4)
    return result


def time_inference(model, frames: torch.Tensor, K: torch.Tensor, dtype, args, device) -> dict[str, float]:
    """Seconds per output frame of the naive triplet forward and of streaming (encode once, decode the centre)."""
    autocast = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype else contextlib.nullcontext
    with torch.no_grad():
        cache = [f.unflatten(0, (1, 3)) for f in model.encode(frames.flatten(0, 1))]

    def naive():
        with torch.no_grad(), autocast():
            return model(frames, K)

    def streaming():
        # One new frame per output: encode it, reuse the two cached frames' features, decode the centre only.
        with torch.no_grad(), autocast():
            new = model.encode(frames[:, 2])
            feats = [torch.cat([c[:, :2], n.unsqueeze(1)], dim=1) for c, n in zip(cache, new, strict=True)]
            return model.decode_from_features(feats, K, (args.height, args.width), decode_views=(0,))

    return {"naive_triplet": time_steps(naive, device, args.warmup, args.iters),
            "streaming": time_steps(streaming, device, args.warmup, args.iters)}


def bench_inference(args, device: torch.device) -> list[dict]:
    """Per-frame latency at batch 1 in fp32 and bf16: naive triplet forward vs streaming."""
    frames = torch.rand(1, 3, 3, args.height, args.width, device=device)
    K = make_intrinsics(0.58 * args.width, 1.92 * args.height, 0.5 * args.width,
                        0.5 * args.height).unsqueeze(0).to(device)
    results = []
    for dtype in (None, torch.bfloat16):
        model = build_model(ModelConfig(encoder="drn_c_26", attention_impl="dense")).to(device).eval()
        if dtype is not None:
            model = model.to(memory_format=torch.channels_last)
        for mode, seconds in time_inference(model, frames, K, dtype, args, device).items():
            results.append({
                "bench": "inference", "mode": mode, "device": device_name(device), "torch": torch.__version__,
                "dtype": str(dtype or torch.float32).replace("torch.", ""), "batch": 1,
                "resolution": f"{args.height}x{args.width}", "ms_per_frame": round(seconds * 1e3, 2),
            })
    base_ms = results[0]["ms_per_frame"]
    for r in results:
        r["speedup_vs_naive_fp32"] = round(base_ms / r["ms_per_frame"], 2)
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--inference", action="store_true", help="also time per-frame inference at batch 1")
    parser.add_argument("--no-train", action="store_true", help="skip the training-step settings")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        teacher_cfg = ModelConfig(architecture="monodepth2", encoder="resnet18")
        teacher_path = Path(tmp) / "teacher.safetensors"
        save_weights(build_model(teacher_cfg), teacher_cfg, teacher_path)
        if not args.no_train:
            for name in args.settings:
                try:
                    result = bench_training(name, args, teacher_path, device)
                except Exception as err:  # noqa: BLE001 - one failing setting (e.g. out of memory) must not end the run
                    result = {"bench": "train_step", "setting": name, "error": f"{type(err).__name__}: {err}"[:300]}
                results.append(result)
                if results[0].get("s_per_step") and result.get("s_per_step"):
                    result["speedup_vs_plain"] = round(results[0]["s_per_step"] / result["s_per_step"], 2)
                print(json.dumps(result), flush=True)
    if args.inference:
        for result in bench_inference(args, device):
            print(json.dumps(result), flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
