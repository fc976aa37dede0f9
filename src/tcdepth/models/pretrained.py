"""Initialise an encoder from a public ImageNet checkpoint (fyu/drn, torchvision ResNet, EfficientNet-Lite0)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

# Classifier parameters of the public checkpoints; our encoders do not build them.
CLASSIFIER_PREFIXES = ("fc.", "_fc.", "_conv_head.", "_bn1.")
# First-layer convolutions, widened for encoders of several stacked frames.
STEM_CONVOLUTIONS = ("conv1.weight", "_conv_stem.weight")


@dataclass
class LoadReport:
    """What a checkpoint load did, key by key."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"{len(self.loaded)} loaded"]
        for name in ("missing", "unexpected", "mismatched"):
            keys = getattr(self, name)
            if keys:
                shown = ", ".join(keys[:8]) + (f" ... (+{len(keys) - 8})" if len(keys) > 8 else "")
                parts.append(f"{len(keys)} {name}: {shown}")
        return "; ".join(parts)


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` or torch checkpoint (unwrapping ``state_dict``/``model`` and ``module.``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
            raise ValueError(f"checkpoint {path} is not a readable torch file: {err}") from err
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path}: expected a dictionary of tensors, got {type(state).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def load_matching(module: nn.Module, state: dict[str, torch.Tensor], ignore: tuple[str, ...] = ()) -> LoadReport:
    """Copy every tensor of ``state`` whose name and shape match ``module``; report the rest, except the tensors
    whose names start with one of ``ignore`` (parts of the checkpoint's network that ``module`` leaves out).

    A first-layer convolution with 3 input channels (``conv1.weight``, ``_conv_stem.weight``) is adapted to a
    multi-frame stem (``3n`` channels) by repeating it ``n`` times and dividing by ``n`` (Monodepth2's pose encoder
    initialisation).
    """
    own = module.state_dict()
    report = LoadReport()
    accepted = {}
    for key, value in state.items():
        if key.startswith(CLASSIFIER_PREFIXES + ignore):
            continue
        if key not in own:
            report.unexpected.append(key)
            continue
        target = own[key]
        if key in STEM_CONVOLUTIONS and value.dim() == 4 and value.shape[1] == 3 and target.shape[1] % 3 == 0:
            repeats = target.shape[1] // 3
            value = value.repeat(1, repeats, 1, 1) / repeats
        if value.shape != target.shape:
            report.mismatched.append(f"{key} {tuple(value.shape)} vs {tuple(target.shape)}")
            continue
        accepted[key] = value
        report.loaded.append(key)
    report.missing = [k for k in own if k not in accepted and not k.endswith("num_batches_tracked")]
    module.load_state_dict(accepted, strict=False)
    return report


def load_pretrained(module: nn.Module, path: str | Path, ignore: tuple[str, ...] = ()) -> LoadReport:
    """Initialise ``module`` from the checkpoint at ``path``; raise if no tensor matched, log what did not (but the
    ``ignore`` prefixes, see :func:`load_matching`)."""
    report = load_matching(module, read_checkpoint(path), ignore)
    if not report.loaded:
        raise ValueError(f"checkpoint {path}: no tensor matches {type(module).__name__} ({report.describe()})")
    level = logging.WARNING if report.missing or report.unexpected or report.mismatched else logging.INFO
    log.log(level, "initialised %s from %s: %s", type(module).__name__, path, report.describe())
    return report
