"""Training-step and inference speed of the full TC-Depth model (paper configuration), one JSON line per setting.

Every setting trains the same architecture with the same losses on the same random batch: DRN-C-26, 3 spatial-
temporal blocks, pose network, frozen Monodepth2 teacher, all TC-Depth losses. When ``plain`` (fp32, dense attention,
NCHW) is the first setting of the run, each line reports ``speedup_vs_plain`` against it, measured in the same
process on the same device. Each line counts the ATen operator calls of one eager step (``ops_per_step``,
``kernel_ops_per_step``: the host's dispatch work, which a CPU run measures for the GPU too). ``--memory`` adds the
peak tensor memory of one step measured on any device (``peak_tensor_gib``), ``--breakdown`` the time of each network
and of the objective alone, ``--profile`` an operator table of one step, ``--inference`` per-frame inference
(benchmarks/README.md explains every field).

    python benchmarks/bench_train_step.py --device cuda --batch 6 --height 192 --width 640
    python benchmarks/bench_train_step.py --device cpu --batch 1 --settings plain --inference
    OMP_NUM_THREADS=1 python benchmarks/bench_train_step.py --device cpu --settings bf16_channels_last --memory \
        --warmup 1 --iters 1
    OUT=results bash benchmarks/gpu_session.sh        # every GPU figure of benchmarks/README.md

Peak FLOP/s for the model FLOPs utilisation (MFU) is the bf16 dense tensor peak of the device when known (H100 SXM:
989 TFLOP/s), else it is omitted.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from tcdepth.config import apply_overrides, from_dict, to_dict
from tcdepth.experiment import ExperimentConfig, TeacherConfig, TrainConfig
from tcdepth.geometry import intrinsics_at_scale, invert_intrinsics, make_intrinsics
from tcdepth.inference import Predictor
from tcdepth.losses import tcdepth_loss
from tcdepth.models import ModelConfig, build_model, save_weights
from tcdepth.models.summary import count_operator_calls, kernel_operators, peak_tensor_bytes, storage_bytes
from tcdepth.runs import describe_device
from tcdepth.training.module import DepthModule

BF16_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}

# name -> (autocast dtype or None, attention implementation, train.channels_last, CUDA graph)
SETTINGS = {
    "plain": (None, "dense", False, False),
    "plain_chunked": (None, "chunked", False, False),
    "bf16": (torch.bfloat16, "dense", False, False),
    "bf16_channels_last": (torch.bfloat16, "dense", True, False),
    "bf16_channels_last_chunked": (torch.bfloat16, "chunked", True, False),
    "bf16_channels_last_cuda_graph": (torch.bfloat16, "dense", True, True),
}


def peak_tflops(device: torch.device) -> float | None:
    name = describe_device(str(device))
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


def build_module(setting: str, teacher_path: Path, device: torch.device, overrides: list[str]) -> DepthModule:
    """The paper model in ``setting`` with the experiment ``overrides`` (``section.key=value``) applied on top."""
    _, impl, channels_last, _ = SETTINGS[setting]
    cfg = ExperimentConfig(
        model=ModelConfig(encoder="drn_c_26", attention_impl=impl),
        train=TrainConfig(teacher=TeacherConfig(mode="checkpoint", path=str(teacher_path)),
                          channels_last=channels_last),
    )
    cfg = from_dict(ExperimentConfig, apply_overrides(to_dict(cfg), overrides))
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


def autocast_of(setting: str, device: torch.device):
    """The setting's autocast context factory. Eager settings cache the casts of the weights within a forward, as
    Lightning's mixed precision does; a CUDA graph capture must not keep casts made outside it, so it runs
    without the cache."""
    dtype, _, _, graph = SETTINGS[setting]
    if dtype is None:
        return contextlib.nullcontext
    return lambda: torch.autocast(device.type, dtype=dtype, cache_enabled=not graph)


def count_step_flops(args, teacher_path: Path, device: torch.device) -> int:
    """FLOPs of one training step (forward and backward, every network and loss), counted on an eager module."""
    module = build_module("bf16_channels_last", teacher_path, device, args.set).train()
    batch = random_batch(args.batch, args.height, args.width, device)
    with FlopCounterMode(display=False) as counter:
        with autocast_of("bf16_channels_last", device)():
            total = module.compute_loss(batch)[0]
        total.backward()
    return counter.get_total_flops()


def bench_training(name: str, args, teacher_path: Path, device: torch.device, flops: int) -> dict:
    dtype, impl, channels_last, graph = SETTINGS[name]
    if graph and device.type != "cuda":
        raise ValueError(f"setting {name} needs a CUDA device")
    release_memory(device)
    module = build_module(name, teacher_path, device, args.set).train()
    params = [p for p in module.parameters() if p.requires_grad]
    # Fused Adam, as `tcdepth train` runs on a GPU (one launch for the update; on every device, so that a CPU run
    # counts the GPU step's operator calls); a captured step also needs its step counter on the GPU (capturable).
    options = {"fused": True, "capturable": True} if graph else {"fused": True}
    optimizer = torch.optim.Adam(params, lr=1e-4, **options)
    batch = random_batch(args.batch, args.height, args.width, device)
    autocast = autocast_of(name, device)

    def update():
        with autocast():
            total = module.compute_loss(batch)[0]
        total.backward()
        optimizer.step()

    def step():
        optimizer.zero_grad(set_to_none=True)
        update()

    start = time.perf_counter()
    step()
    synchronize(device)
    first_step = time.perf_counter() - start
    # Eager steps with Adam's state in place; they stand for the first warm-up steps.
    probes = {"operators": operators_of_step(step)}
    if args.memory:
        probes["memory"] = tensor_memory_of_step(update, module, optimizer, batch, device)
    if graph:  # the peak then covers the capture, i.e. the graph's working set (replays allocate nothing)
        step = capture_step(step, update, optimizer)
    for _ in range(max(args.warmup - len(probes), 0)):
        step()
    synchronize(device)
    if device.type == "cuda" and not graph:  # steady state: the first steps' cuDNN algorithm search is not counted
        torch.cuda.reset_peak_memory_stats(device)
    seconds = time_steps(step, device, 0, args.iters)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    result = {
        "bench": "train_step", "setting": name, "device": describe_device(str(device)),
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "dtype": str(dtype or torch.float32).replace("torch.", ""), "attention": impl, "channels_last": channels_last,
        "cuda_graph": graph, "overrides": args.set, "batch": args.batch, "resolution": f"{args.height}x{args.width}",
        "first_step_s": round(first_step, 2), "s_per_step": round(seconds, 4),
        "samples_per_s": round(args.batch / seconds, 2), "peak_mem_gib": None if peak is None else round(peak, 2),
        "tflop_per_step": round(flops / 1e12, 3), "achieved_tflops": round(flops / seconds / 1e12, 1),
    }
    result.update(probes["operators"])
    result.update(probes.get("memory", {}))
    peak_tf = peak_tflops(device)
    if peak_tf:
        result["mfu_vs_bf16_peak"] = round(flops / seconds / 1e12 / peak_tf, 4)
    if device.type == "cuda" and not graph:
        result["host_syncs_per_step"] = count_host_syncs(step)
    if args.breakdown:
        result["breakdown_ms"] = time_components(module, batch, autocast, device, args)
    if args.profile:
        profile_step(step, name, device, Path(args.profile))
    return result


def operators_of_step(step) -> dict:
    """ATen operator calls of one eager step: all of them, those that launch a kernel (no views), and the kernel
    operators called most."""
    _, counts = count_operator_calls(step)
    if "aten.convolution_backward" not in counts:
        raise RuntimeError("the operator count of the step missed its backward pass")
    kernels = kernel_operators(counts)
    return {"ops_per_step": sum(counts.values()), "kernel_ops_per_step": sum(kernels.values()),
            "top_kernel_ops": dict(kernels.most_common(8))}


def tensor_memory_of_step(update, module: DepthModule, optimizer, batch: dict, device: torch.device) -> dict:
    """Peak tensor memory of one steady-state step (forward, backward, Adam): the storages live when it starts
    (parameters and buffers of every network, Adam's state, the batch; no gradients) plus the peak of the storages
    the step creates (``peak_tensor_bytes``), in GiB."""
    optimizer.zero_grad(set_to_none=True)
    state = [t for s in optimizer.state.values() for t in s.values() if torch.is_tensor(t) and t.device == device]
    resident = storage_bytes([*module.parameters(), *module.buffers(), *state, *batch.values()])
    _, peak = peak_tensor_bytes(update)
    return {"resident_gib": round(resident / 2**30, 3), "peak_tensor_gib": round((resident + peak) / 2**30, 3)}


def capture_step(step, update, optimizer):
    """``update`` (forward, backward, Adam on the static batch) captured as one CUDA graph after warm-up ``step``s
    on a side stream; returns the graph's replay. Gradients are written, not accumulated, by each replay."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            step()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.reset_peak_memory_stats()
    graph = torch.cuda.CUDAGraph()
    optimizer.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        update()
    return graph.replay


def count_host_syncs(step) -> int:
    """Operations in one step that make the host wait for the GPU (``torch.cuda.set_sync_debug_mode``)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message) and "prototype" not in str(w.message)]
    for w in syncs[:5]:
        print(f"host sync at {w.filename}:{w.lineno}: {str(w.message)[:120]}", file=sys.stderr)
    return len(syncs)


def release_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def time_components(module: DepthModule, batch: dict, autocast, device: torch.device, args) -> dict[str, float]:
    """Milliseconds of each part of a step alone: depth, pose and teacher networks, objective (forward+backward)."""
    frames = batch["color_aug_0"]

    def depth():
        with autocast():
            disps = module.forward_depth(batch)["disp"]
        sum(d.float().mean() for d in disps).backward()

    def pose():
        with autocast():
            poses = module.predict_poses(frames)
        sum(p.sum() for p in poses.values()).backward()

    def teacher():
        with autocast():
            module.teacher_disparities(batch)

    with torch.no_grad(), autocast():
        outputs = module.forward_depth(batch)
        poses = module.predict_poses(frames)
        teacher_disp = module.teacher_disparities(batch)[0]
    outputs = {k: [t.detach().requires_grad_() for t in v] if isinstance(v, list) else v.detach().requires_grad_()
               for k, v in outputs.items()}
    poses = {f: p.detach().requires_grad_() for f, p in poses.items()}

    def objective():
        with autocast():
            total = tcdepth_loss(batch, outputs, poses, teacher_disp, 0, module.cfg.loss).total
        total.backward()

    parts = {"depth_net": depth, "pose_net": pose, "teacher": teacher, "objective": objective}
    return {name: round(time_steps(fn, device, 1, args.iters) * 1e3, 2) for name, fn in parts.items()}


def profile_step(step, name: str, device: torch.device, out_dir: Path) -> None:
    """Operator table of one step (sorted by device time) to ``out_dir/profile_<name>.txt``."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    sort = "cpu_time_total"
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
        sort = "cuda_time_total"
    with torch.profiler.profile(activities=activities) as prof:
        step()
        synchronize(device)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = prof.key_averages().table(sort_by=sort, row_limit=60, max_name_column_width=70)
    (out_dir / f"profile_{name}.txt").write_text(table)


def inference_modes(model, cfg: ModelConfig, frames: torch.Tensor, K: torch.Tensor, dtype, args, device) -> dict:
    """Functions producing one output frame each: naive triplet forward, streaming with only the encoder features
    cached (the baseline of the frame-context cache), the network calls of ``Predictor`` streaming (one new frame's
    context, the centre decoded from three cached contexts), the same replayed as CUDA graphs (CUDA only) and
    ``Predictor`` offline batches (``args.offline_batch`` centres per call; its time is divided by that number).
    Returns ``{mode: (fn, frames per call)}``."""
    autocast = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype else contextlib.nullcontext
    precision = "bf16" if dtype == torch.bfloat16 else "fp32"
    predictor = Predictor(model, cfg, height=args.height, width=args.width, device=device, precision=precision)
    size = (args.height, args.width)

    def naive():
        with torch.no_grad(), autocast():
            return model(frames, K)

    with torch.no_grad():
        cache = [c.unflatten(0, (1, 3)) for c in predictor.encode_frames(frames.flatten(0, 1), K.expand(3, 3, 3))]
        with autocast():
            feature_cache = [f.unflatten(0, (1, 3)) for f in model.encode(frames.flatten(0, 1))]

    def streaming_encoder_cache():
        # Only the encoder features cached, everything else recomputed for every triplet.
        with torch.no_grad(), autocast():
            new = model.encode(frames[:, 2])
            features = [torch.cat([c[:, :2], n.unsqueeze(1)], dim=1) for c, n in zip(feature_cache, new, strict=True)]
            return model.decode_from_features(features, K, size, decode_views=(0,))["disp"][0]

    def streaming_with(streamer: Predictor):
        # One new frame per output: its context, the two cached frames' contexts, the centre decoded.
        def run():
            with torch.no_grad():
                new = streamer.encode_frames(frames[:, 2], K)
                return streamer.decode_centres(*[torch.cat([c[:, :2], n.unsqueeze(1)], dim=1)
                                                 for c, n in zip(cache, new, strict=True)])
        return run

    clip = torch.rand(args.offline_batch + 2, 3, args.height, args.width, device=device)
    centres = torch.arange(1, args.offline_batch + 1, device=device)
    triplets = torch.stack([centres, centres - 1, centres + 1], dim=1)  # views (0, -1, +1) of each centre

    def offline():
        # A clip's frame contexts in one batch, then every centre decoded in one batch from the gathered contexts.
        with torch.no_grad():
            context = predictor.encode_frames(clip, K.expand(clip.shape[0], 3, 3))
            return predictor.decode_centres(*[c[triplets] for c in context])

    modes = {"naive_triplet": (naive, 1), "streaming_encoder_cache": (streaming_encoder_cache, 1),
             "streaming": (streaming_with(predictor), 1)}
    if device.type == "cuda":
        graphed = Predictor(model, cfg, height=args.height, width=args.width, device=device, precision=precision,
                            cuda_graphs=True)
        modes["streaming_cuda_graph"] = (streaming_with(graphed), 1)
    modes[f"offline_batch{args.offline_batch}"] = (offline, args.offline_batch)
    return modes


def work_per_frame(fn, frames_per_call: int) -> dict:
    """FLOPs (``torch.utils.flop_counter``: matrix products and convolutions) and kernel-launching operator calls
    of one output frame of ``fn``."""
    with FlopCounterMode(display=False) as flops:
        _, counts = count_operator_calls(fn)
    return {"gflop_per_frame": round(flops.get_total_flops() / 1e9 / frames_per_call, 1),
            "kernel_ops_per_frame": round(sum(kernel_operators(counts).values()) / frames_per_call, 1)}


def bench_inference(args, device: torch.device) -> list[dict]:
    """Per-frame latency at batch 1 in fp32 and bf16 (naive, streaming, CUDA graphs) and offline throughput."""
    frames = torch.rand(1, 3, 3, args.height, args.width, device=device)
    K = make_intrinsics(0.58 * args.width, 1.92 * args.height, 0.5 * args.width,
                        0.5 * args.height).unsqueeze(0).to(device)
    results = []
    for dtype in (None, torch.bfloat16):
        release_memory(device)
        cfg = ModelConfig(encoder="drn_c_26", attention_impl="dense")
        model = build_model(cfg).to(device).eval()
        if dtype is not None:
            model = model.to(memory_format=torch.channels_last)
        for mode, (fn, per_call) in inference_modes(model, cfg, frames, K, dtype, args, device).items():
            seconds = time_steps(fn, device, args.warmup, args.iters) / per_call
            result = {
                "bench": "inference", "mode": mode, "device": describe_device(str(device)),
                "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                "dtype": str(dtype or torch.float32).replace("torch.", ""), "batch": per_call,
                "resolution": f"{args.height}x{args.width}", "ms_per_frame": round(seconds * 1e3, 3),
                "frames_per_s": round(1 / seconds, 1),
            }
            if "cuda_graph" not in mode:  # a replay dispatches nothing to count
                result.update(work_per_frame(fn, per_call))
            results.append(result)
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
    parser.add_argument("--offline-batch", type=int, default=16, help="centre frames per call of offline inference")
    parser.add_argument("--breakdown", action="store_true", help="also time the networks and the objective alone")
    parser.add_argument("--profile", metavar="DIR", help="write an operator table of one step per setting to DIR")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="experiment settings on top of every setting, e.g. loss.scales_per_pass=4 "
                             "loss.recompute=true model.decoder_recompute_stages=4")
    parser.add_argument("--memory", action="store_true",
                        help="also measure the peak tensor memory of one step on any device (peak_tensor_gib)")
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
            flops = count_step_flops(args, teacher_path, device)
            for name in args.settings:
                try:
                    result = bench_training(name, args, teacher_path, device, flops)
                except Exception as err:  # noqa: BLE001 - one failing setting (e.g. out of memory) must not end the run
                    result = {"bench": "train_step", "setting": name, "error": f"{type(err).__name__}: {err}"[:300]}
                results.append(result)
                if results[0].get("setting") == "plain" and results[0].get("s_per_step") and result.get("s_per_step"):
                    result["speedup_vs_plain"] = round(results[0]["s_per_step"] / result["s_per_step"], 2)
                print(json.dumps(result), flush=True)
    if args.inference:
        for result in bench_inference(args, device):
            print(json.dumps(result), flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
