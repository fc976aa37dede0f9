"""ONNX export of a depth network: the TC-Depth triplet model or the Monodepth2 single-frame model.

Inputs and outputs (``B`` is a dynamic axis):

* TC-Depth: ``frames`` float32 ``[B,3,3,H,W]`` in ``[0, 1]`` (views 0, -1, +1) and ``K`` float32 ``[B,3,3]`` pixel
  intrinsics of the ``H x W`` input -> ``disp`` ``[B,1,H,W]`` (sigmoid disparity of the centre frame) and
  ``depth`` ``[B,1,H,W]`` (network units, ``1 / (1/max_depth + (1/min_depth - 1/max_depth) * disp)``).
* Monodepth2: ``image`` ``[B,3,H,W]`` -> ``disp``, ``depth``.

The spatial attention is exported through its dense path (``attention_impl="dense"``: plain ops, no custom
autograd function).
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import torch
from torch import nn

from tcdepth.geometry import disp_to_depth
from tcdepth.io import atomic_path
from tcdepth.models import ModelConfig, Monodepth2, TCDepth, build_model

ONNX_OPSET = 17


class TripletDepth(nn.Module):
    """``frames [B,3,3,H,W]``, ``K [B,3,3]`` -> ``(disp, depth)`` of the centre frame, each ``[B,1,H,W]``.

    The batch is folded with ``reshape(-1, 3, ...)`` so that the traced graph keeps a dynamic batch axis.
    """

    def __init__(self, model: TCDepth, cfg: ModelConfig):
        super().__init__()
        self.model, self.cfg = model, cfg

    def forward(self, frames: torch.Tensor, K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = [f.reshape(-1, 3, *f.shape[1:]) for f in self.model.encode(frames.flatten(0, 1))]
        out = self.model.decode_from_features(features, K, tuple(frames.shape[-2:]), decode_views=(0,))
        disp = out["disp"][0][:, 0]
        return disp, disp_to_depth(disp, self.cfg.min_depth, self.cfg.max_depth)[1]


class SingleFrameDepth(nn.Module):
    """``image [B,3,H,W]`` -> ``(disp, depth)``, each ``[B,1,H,W]``."""

    def __init__(self, model: Monodepth2, cfg: ModelConfig):
        super().__init__()
        self.model, self.cfg = model, cfg

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        disp = self.model(image)["disp"][0]
        return disp, disp_to_depth(disp, self.cfg.min_depth, self.cfg.max_depth)[1]


def exportable_module(model: TCDepth | Monodepth2, cfg: ModelConfig) -> TripletDepth | SingleFrameDepth:
    """The eval-mode wrapper that is exported; a TC-Depth model is rebuilt with the dense attention path."""
    if isinstance(model, Monodepth2):
        return SingleFrameDepth(model, cfg).eval()
    dense_cfg = dataclasses.replace(cfg, attention_impl="dense", pretrained=None, pose_pretrained=None)
    dense = build_model(dense_cfg)
    dense.load_state_dict(model.state_dict())
    return TripletDepth(dense, dense_cfg).eval()


def export_onnx(model: TCDepth | Monodepth2, cfg: ModelConfig, out_path: str | Path, height: int = 192,
                width: int = 640) -> list[str]:
    """Export a depth network with its settings to ``out_path`` for inputs of ``height x width``; returns the input
    names. The file is written atomically and checked with ``onnx.checker``."""
    import onnx

    module = exportable_module(model, cfg)
    if isinstance(module, TripletDepth):
        names = ["frames", "K"]
        f = 0.5 * width
        example = (torch.rand(2, 3, 3, height, width),
                   torch.tensor([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]]).expand(
                       2, 3, 3).contiguous())
    else:
        names = ["image"]
        example = (torch.rand(2, 3, height, width),)
    dynamic = {name: {0: "batch"} for name in [*names, "disp", "depth"]}
    with atomic_path(out_path) as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, str(tmp), input_names=names, output_names=["disp", "depth"],
                          dynamic_axes=dynamic, opset_version=ONNX_OPSET, dynamo=False)
        onnx.checker.check_model(onnx.load(str(tmp)))
    return names
