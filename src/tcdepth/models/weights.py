"""Save and load network weights as safetensors with the ``ModelConfig`` stored in the file's metadata."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from tcdepth.config import from_dict, to_dict
from tcdepth.io import atomic_write_bytes
from tcdepth.models.config import ModelConfig
from tcdepth.models.factory import build_model, build_pose_net
from tcdepth.models.pose import PoseNet

FORMAT = "tcdepth-weights-v1"


def save_weights(model: nn.Module, cfg: ModelConfig, path: str | Path) -> None:
    """Write ``model``'s state (a depth network or a ``PoseNet``) and ``cfg`` to ``path`` atomically."""
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    metadata = {"format": FORMAT, "network": "pose" if isinstance(model, PoseNet) else "depth",
                "model_config": json.dumps(to_dict(cfg))}
    atomic_write_bytes(path, safetensors_bytes(state, metadata=metadata))


def read_model_config(path: str | Path) -> tuple[ModelConfig, str]:
    """``(ModelConfig, "depth" | "pose")`` stored in a weights file by :func:`save_weights`, without loading the
    tensors; raises ValueError when ``path`` is not such a file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types
        raise ValueError(f"{path} is not a safetensors file: {err}") from err
    if metadata.get("format") != FORMAT or "model_config" not in metadata:
        raise ValueError(f"{path}: not a tcdepth weights file (metadata format {metadata.get('format')!r}, "
                         f"expected {FORMAT!r} with a model_config)")
    cfg = from_dict(ModelConfig, json.loads(metadata["model_config"]), prefix="model")
    return cfg, "pose" if metadata.get("network") == "pose" else "depth"


def load_weights(path: str | Path, device: str = "cpu") -> tuple[nn.Module, ModelConfig]:
    """Rebuild the network saved by :func:`save_weights` and load its state.

    Raises ValueError naming the missing, unexpected and shape-mismatched keys when the file does not fit the
    architecture its config describes.
    """
    cfg, network = read_model_config(path)
    build_cfg = dataclasses.replace(cfg, pretrained=None, pose_pretrained=None)
    model = build_pose_net(build_cfg) if network == "pose" else build_model(build_cfg)
    load_state_exactly(model, load_file(str(path), device=device),
                       f"{path}: weights do not match the {cfg.architecture}/{cfg.encoder} architecture")
    return model.to(device), cfg


def load_state_exactly(module: nn.Module, state: dict, what: str) -> None:
    """Load ``state`` into ``module`` when its keys and shapes are exactly the module's; otherwise raise ValueError
    ``"<what>: missing [...], unexpected [...], shape-mismatched [...]"`` (first ten of each) and load nothing."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
                        for k in set(state) & set(own) if state[k].shape != own[k].shape)
    if missing or unexpected or mismatched:
        raise ValueError(f"{what}: missing {missing[:10]}, unexpected {unexpected[:10]}, "
                         f"shape-mismatched {mismatched[:10]}")
    module.load_state_dict(state)


def load_encoder_from(depth_net: nn.Module, source_state: dict, what: str) -> None:
    """Load ``depth_net.encoder`` from the ``encoder.*`` tensors of another depth network's state ``source_state``:
    every tensor of this encoder must be there with the same shape (the source may hold more, e.g. a deeper encoder
    whose first blocks this one is); otherwise :func:`load_state_exactly` raises ValueError naming the missing and
    shape-mismatched tensors, and nothing is loaded."""
    prefix = "encoder."
    own = depth_net.encoder.state_dict()
    shared = {key[len(prefix):]: value for key, value in source_state.items()
              if key.startswith(prefix) and key[len(prefix):] in own}
    load_state_exactly(depth_net.encoder, shared, what)


def load_decoder_from(depth_net: nn.Module, source_state: dict, what: str) -> list[str]:
    """Load ``depth_net.decoder`` (a ``DepthDecoder``) from the ``decoder.*`` tensors of another depth network's
    state ``source_state``, the stages aligned from the finest: this decoder's last stage from the source's last
    stage, the one before from the one before, and so on; the four disparity heads from the source's four.

    Every aligned tensor of the same shape is copied; the others keep their initialisation and their names are
    returned (TC-Depth's 1/8 decoder stage from a Monodepth2 decoder: its input convolution reads the context, not
    the 1/16 stage's output). Raises ValueError when a tensor of this decoder has no counterpart in the source or
    none fits; nothing is loaded then.
    """
    own = depth_net.decoder.state_dict()
    stages = {int(key.split(".")[2]) for key in source_state if key.startswith("decoder.pre.")}
    offset = len(stages) - len(depth_net.decoder.stages)

    def counterpart(key: str) -> str:
        kind, index, rest = key.split(".", 2)
        return f"decoder.{kind}.{int(index) + offset if kind in ('pre', 'post') else index}.{rest}"

    counterparts = {key: counterpart(key) for key in own}
    missing = sorted(key for key, other in counterparts.items() if other not in source_state)
    copied = {key: source_state[other] for key, other in counterparts.items()
              if other in source_state and source_state[other].shape == own[key].shape}
    if offset < 0 or missing or not copied:
        raise ValueError(f"{what}: {len(stages)} source stages for this decoder's {len(depth_net.decoder.stages)}, "
                         f"no counterpart for {missing[:10]}, {len(copied)} tensors of the same shape")
    depth_net.decoder.load_state_dict({**own, **copied})
    return sorted(set(own) - set(copied))
