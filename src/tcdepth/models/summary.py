"""Parameter and FLOP counts per component of the networks a ``ModelConfig`` describes, the activation memory
autograd keeps for backward, and device-independent costs of any computation: ATen operator calls and peak tensor
memory."""

from __future__ import annotations

import dataclasses
import weakref
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode

from tcdepth.geometry import check_network_size
from tcdepth.models.config import ModelConfig
from tcdepth.models.factory import build_model, build_pose_net


@dataclass
class ComponentCost:
    """One row of the summary: ``gflops`` are 2 x multiply-accumulates of one sample (a triplet for TC-Depth,
    one image for Monodepth2, the two frame pairs for the pose network) in a forward pass."""

    name: str
    params: int
    gflops: float


def _submodule_flops(counts: dict, prefix: str, name: str) -> float:
    """GFLOPs of the submodule ``name`` of the module ``prefix``: the counts of its outermost modules that ran.

    The counter attributes an operation to every module whose ``forward`` is running; a component that its parent
    drives through other methods (``TCDepth`` calls ``st_module.per_frame`` and ``across_frames``) never enters its
    own ``forward``, so its operations are found under its submodules instead.
    """
    root = f"{prefix}.{name}"
    keys = [k for k in counts if k == root or k.startswith(root + ".")]
    outermost = [k for k in keys if not any(k.startswith(other + ".") for other in keys)]
    return sum(sum(counts[k].values()) for k in outermost) / 1e9


def summarize(cfg: ModelConfig, height: int = 192, width: int = 640) -> list[ComponentCost]:
    """Costs of every component at an input of ``height x width``; runs on the meta device (no real compute)."""
    check_network_size(height, width)
    cfg = dataclasses.replace(cfg, pretrained=None, pose_pretrained=None)
    rows = []
    with torch.device("meta"):
        model = build_model(cfg)
        pose = build_pose_net(cfg)
        image = torch.zeros(1, 3, height, width)
        triplet = torch.zeros(1, 3, 3, height, width)
        K = torch.eye(3).expand(1, 3, 3).clone()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.depth_outputs(triplet[:, :model.num_views], K)
    counts = counter.get_flop_counts()
    prefix = type(model).__name__
    for name, module in model.named_children():
        rows.append(ComponentCost(name, sum(p.numel() for p in module.parameters()),
                                  _submodule_flops(counts, prefix, name)))
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        for _ in range(2):
            pose(image, image)
    counts = counter.get_flop_counts()
    for name, module in pose.named_children():
        rows.append(ComponentCost(f"pose_{name}", sum(p.numel() for p in module.parameters()),
                                  _submodule_flops(counts, "PoseNet", name)))
    return rows


def saved_for_backward(fn: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``fn()``; return its result and the bytes of the distinct storages autograd keeps for its backward."""
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = fn()
    return result, sum(storages.values())


# Operators that only create or change tensor metadata (views, aliases, uninitialised allocations) or mark profiler
# ranges: none of them launches a device kernel, so they are left out of ``kernel_operators``.
NO_KERNEL_OPERATORS = frozenset({
    "aten.view", "aten._unsafe_view", "aten._reshape_alias", "aten.alias", "aten.detach", "aten.lift_fresh",
    "aten.slice", "aten.select", "aten.narrow", "aten.diagonal", "aten.unfold", "aten.as_strided",
    "aten.expand", "aten.transpose", "aten.t", "aten.permute", "aten.unsqueeze", "aten.squeeze",
    "aten.unbind", "aten.split", "aten.split_with_sizes", "aten.chunk", "aten.view_as_real", "aten.view_as_complex",
    "aten.as_strided_", "aten.transpose_", "aten.t_", "aten.unsqueeze_", "aten.squeeze_",
    "aten.resolve_conj", "aten.resolve_neg",
    "aten.empty", "aten.empty_like", "aten.empty_strided", "aten.new_empty", "aten.new_empty_strided",
    "profiler._record_function_enter_new", "profiler._record_function_exit",
})


class _OperatorCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


def count_operator_calls(fn: Callable[[], Any]) -> tuple[Any, Counter[str]]:
    """Run ``fn()``; return its result and how often it called each ATen operator (``"aten.add"``, all overloads
    together), counted below autograd and autocast: a backward run inside ``fn`` is counted too (the mode follows
    autograd into its worker threads), an op that runs inside another op's kernel is not."""
    counter = _OperatorCounter()
    with counter:
        result = fn()
    return result, counter.counts


def kernel_operators(counts: Counter[str]) -> Counter[str]:
    """The calls in ``counts`` (from ``count_operator_calls``) of operators that launch a kernel (those not in
    ``NO_KERNEL_OPERATORS``)."""
    return Counter({name: n for name, n in counts.items() if name not in NO_KERNEL_OPERATORS})


class _StorageTracker(TorchDispatchMode):
    """Bytes of the storages created by the operators run under it, summed while those storages live."""

    def __init__(self):
        super().__init__()
        self.known: weakref.WeakSet = weakref.WeakSet()  # storages already counted, or existing before the mode
        self.live = 0
        self.peak = 0
        self.finalizers: list[weakref.finalize] = []

    def _release(self, nbytes: int) -> None:
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        for tensor in tree_leaves((args, kwargs)):
            if isinstance(tensor, torch.Tensor):
                self.known.add(tensor.untyped_storage())
        out = func(*args, **kwargs)
        for tensor in tree_leaves(out):
            if not isinstance(tensor, torch.Tensor):
                continue
            storage = tensor.untyped_storage()
            if storage in self.known:
                continue
            self.known.add(storage)
            self.live += storage.nbytes()
            self.peak = max(self.peak, self.live)
            self.finalizers.append(weakref.finalize(storage, self._release, storage.nbytes()))
        return out


def peak_tensor_bytes(fn: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``fn()``; return its result and the peak, over the run, of the bytes of the tensor storages that ``fn``
    created and that were alive together (on any device; a storage counts from the operator that returned it until
    it is freed). Storages that existed before ``fn`` (parameters, inputs) are not counted (``storage_bytes``), nor
    an operator's internal workspace that it frees before returning."""
    tracker = _StorageTracker()
    try:
        with tracker:
            result = fn()
    finally:
        for finalizer in tracker.finalizers:
            finalizer.detach()
    return result, tracker.peak


def storage_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of the distinct storages under ``tensors`` (a storage shared by several views counts once)."""
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(storages.values())
