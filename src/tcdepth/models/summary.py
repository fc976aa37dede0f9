"""Parameter and FLOP counts per component of the networks a ``ModelConfig`` describes, and the activation memory
autograd keeps for backward."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from tcdepth.models.config import ModelConfig
from tcdepth.models.factory import build_model, build_pose_net
from tcdepth.models.tcdepth_model import check_image_size


@dataclass
class ComponentCost:
    """One row of the summary: ``gflops`` are 2 x multiply-accumulates of one sample (a triplet for TC-Depth,
    one image for Monodepth2, the two frame pairs for the pose network) in a forward pass."""

    name: str
    params: int
    gflops: float


def _submodule_flops(counts: dict, prefix: str, name: str) -> float:
    return sum(counts.get(f"{prefix}.{name}", {}).values()) / 1e9


def summarize(cfg: ModelConfig, height: int = 192, width: int = 640) -> list[ComponentCost]:
    """Costs of every component at an input of ``height x width``; runs on the meta device (no real compute)."""
    check_image_size(height, width)
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
        if cfg.architecture == "tcdepth":
            model(triplet, K)
        else:
            model(image)
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
