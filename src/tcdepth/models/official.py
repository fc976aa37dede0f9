"""Import the official TC-Depth (DaoyiG/TC-Depth) and Monodepth2 (nianticlabs/monodepth2) checkpoint folders.

A folder holds one ``torch.save``-d state dict per module, as the official ``save_model`` writes them:

* TC-Depth (``tcdepth-official``): ``encoder.pth`` (DRN-C-26, plus ``height``, ``width``, ``use_stereo``),
  ``depth.pth``, ``ref_depth.pth``, ``spa_temp.pth``, and optionally ``pose_encoder.pth`` + ``pose.pth``.
* Monodepth2 (``monodepth2``): ``encoder.pth`` (ResNet, plus ``height``, ``width``, ``use_stereo``), ``depth.pth``,
  and optionally ``pose_encoder.pth`` + ``pose.pth``.

Files are read with ``torch.load(..., weights_only=True)``: a file that needs arbitrary unpickling (it could run
code) is refused. Every official key is mapped to a tcdepth parameter by name; missing, unexpected and mis-shaped
keys are reported by name, and nothing is returned unless every file fits. The returned config selects the
reference's behaviour where tcdepth's defaults differ (docs/compat.md).
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from tcdepth.models.config import ModelConfig
from tcdepth.models.factory import build_model, build_pose_net
from tcdepth.models.pose import PoseNet
from tcdepth.models.tcdepth_model import Monodepth2, TCDepth

TCDEPTH_OFFICIAL = "tcdepth-official"
MONODEPTH2 = "monodepth2"
FORMATS = (TCDEPTH_OFFICIAL, MONODEPTH2)

DEPTH_FILES = {TCDEPTH_OFFICIAL: ("encoder", "depth", "ref_depth", "spa_temp"), MONODEPTH2: ("encoder", "depth")}
POSE_FILES = ("pose_encoder", "pose")
SIZE_ENTRIES = ("height", "width")

# Official keys tcdepth does not build: the encoders' ImageNet classifiers, and keys that alias another key's tensor
# (the DRN encoder repeats its stem and dilated layers under conv.* and degrid.*; the temporal attention's f_query
# is its f_key module). Each alias must hold the same values as the key it repeats.
CLASSIFIER = re.compile(r"^encoder\.fc\.")
DRN_ALIASES = ((re.compile(r"^conv\.0\.(.*)$"), r"encoder.conv1.\1"),
               (re.compile(r"^conv\.1\.(.*)$"), r"encoder.bn1.\1"),
               (re.compile(r"^degrid\.(\d)\.(.*)$"), lambda m: f"encoder.layer{int(m[1]) + 5}.{m[2]}"))
TEMPORAL_ALIASES = ((re.compile(r"^(module\.\d+\.temp_attn)\.f_query\.(.*)$"), r"\1.f_key.\2"),)
REFERENCE_BINS = "ref_disp"
BINS = re.compile(f"^{REFERENCE_BINS}$")  # fixed bins, checked by _check_bins instead of loaded
# Read into the config (ModelConfig.sigma), not loaded as parameters.
SIGMA = re.compile(r"^module\.\d+\.spatial_attn\.sigma_3d$")


@dataclass
class OfficialModel:
    """Networks built from an official checkpoint folder.

    Attributes:
        depth_net: :class:`TCDepth` or :class:`Monodepth2`, in eval mode.
        pose_net: the pose network, or None when the folder has no pose files.
        model: the settings that rebuild ``depth_net`` (and select the reference's behaviour).
        height, width: the input size the checkpoint was trained at (``encoder.pth``'s entries).
        format: :data:`TCDEPTH_OFFICIAL` or :data:`MONODEPTH2`.
        source: the folder.
    """

    depth_net: TCDepth | Monodepth2
    pose_net: PoseNet | None
    model: ModelConfig
    height: int
    width: int
    format: str
    source: str


def read_official_file(path: Path) -> dict:
    """The dictionary saved in one official ``.pth`` file, loaded with ``weights_only=True`` on the CPU.

    Raises ValueError when the file is not a torch file, needs unpickling beyond tensors and plain containers (it is
    refused unloaded: such a file could run code), or is not a dictionary.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path}: refused, the file holds objects other than tensors and plain values, and "
                         f"loading it could run code (torch.load weights_only=True: {first_line})") from err
    except Exception as err:  # noqa: BLE001 - torch raises many types for a damaged or foreign file
        raise ValueError(f"{path}: not a readable torch checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a dictionary of tensors, got {type(state).__name__}")
    return state


def is_official_folder(folder: str | Path) -> bool:
    """Whether ``folder`` holds an official checkpoint (its ``encoder.pth``) rather than a tcdepth run."""
    return (Path(folder) / f"{DEPTH_FILES[MONODEPTH2][0]}.pth").is_file()


def detect_format(folder: Path) -> str:
    """:data:`TCDEPTH_OFFICIAL` when the folder has ``ref_depth.pth`` or ``spa_temp.pth``, :data:`MONODEPTH2` when it
    has only ``encoder.pth`` and ``depth.pth``."""
    if any((folder / f"{stem}.pth").is_file() for stem in ("ref_depth", "spa_temp")):
        return TCDEPTH_OFFICIAL
    if all((folder / f"{stem}.pth").is_file() for stem in DEPTH_FILES[MONODEPTH2]):
        return MONODEPTH2
    raise ValueError(f"{folder}: no official checkpoint folder (expected encoder.pth and depth.pth, plus "
                     "ref_depth.pth and spa_temp.pth for TC-Depth)")


def import_official(folder: str | Path, format: str = "auto") -> OfficialModel:  # noqa: A002 - the CLI's name
    """Build tcdepth networks from an official TC-Depth or Monodepth2 checkpoint folder.

    Args:
        folder: the folder of ``.pth`` files (module docstring).
        format: :data:`TCDEPTH_OFFICIAL`, :data:`MONODEPTH2` or ``"auto"`` (:func:`detect_format`).
    Raises:
        FileNotFoundError: the folder or one of its required files is absent.
        ValueError: a file is refused or unreadable, or its keys do not fit (every missing, unexpected and
            mis-shaped key is named).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"official checkpoint folder {folder} does not exist")
    if format == "auto":
        format = detect_format(folder)
    if format not in FORMATS:
        raise ValueError(f"format must be one of {list(FORMATS)} or 'auto', got {format!r}")
    pose_present = [(folder / f"{stem}.pth").is_file() for stem in POSE_FILES]
    if any(pose_present) and not all(pose_present):
        missing = [f"{stem}.pth" for stem, present in zip(POSE_FILES, pose_present, strict=True) if not present]
        raise FileNotFoundError(f"{folder}: has only one of the pose files, missing {missing} (give both or neither)")
    stems = DEPTH_FILES[format] + (POSE_FILES if all(pose_present) else ())
    for stem in stems:
        if not (folder / f"{stem}.pth").is_file():
            raise FileNotFoundError(f"{folder}: {format} folder is missing {stem}.pth")
    files = {stem: read_official_file(folder / f"{stem}.pth") for stem in stems}
    tensors = {stem: {k: v for k, v in state.items() if isinstance(v, torch.Tensor)} for stem, state in files.items()}
    height, width = _input_size(folder / "encoder.pth", files["encoder"])

    cfg = _tcdepth_config(tensors) if format == TCDEPTH_OFFICIAL else _monodepth2_config(tensors)
    depth_net = build_model(cfg)
    problems: list[str] = []
    if format == TCDEPTH_OFFICIAL:
        problems += _check_bins(depth_net, tensors["ref_depth"])
    mapping, aliases = _depth_mapping(format)
    problems += _load(depth_net, mapping, tensors, aliases, ignored={"spa_temp": SIGMA, "ref_depth": BINS})
    pose_net = None
    if all(pose_present):
        pose_net = build_pose_net(cfg)
        problems += _load(pose_net, POSE_MAPPING, tensors, {}, ignored={})
    if problems:
        raise ValueError(f"{folder}: the {format} checkpoint does not fit: " + "; ".join(problems))
    depth_net.eval()
    if pose_net is not None:
        pose_net.eval()
    return OfficialModel(depth_net, pose_net, cfg, height, width, format, str(folder))


def official_parameter_names(module: nn.Module, format: str) -> dict[str, str]:  # noqa: A002 - the CLI's name
    """Where each parameter of an imported network comes from: tcdepth parameter name -> ``"<file>.pth:<key>"``,
    the official key it is loaded from (keys that alias it, e.g. the DRN stem's ``conv.0.*``, are not listed).

    Args:
        module: a depth network of ``format`` (:data:`TCDEPTH_OFFICIAL` or :data:`MONODEPTH2`) or a ``PoseNet``.
    """
    mapping = POSE_MAPPING if isinstance(module, PoseNet) else _depth_mapping(format)[0]
    return {key: f"{stem}.pth:{official_key(key.removeprefix(prefix))}" for key, _ in module.named_parameters()
            for stem, (prefix, official_key) in mapping.items() if key.startswith(prefix)}


def _depth_mapping(format: str) -> tuple[dict, dict]:  # noqa: A002
    """The depth network's files: stem -> (tcdepth key prefix, tcdepth key without the prefix -> official key), and
    stem -> the alias patterns of that file."""
    if format == TCDEPTH_OFFICIAL:
        mapping = {"encoder": ("encoder.", _encoder_key), "depth": ("decoder.", _decoder_key(4, reversed_heads=False)),
                   "ref_depth": ("reference_decoder.", _reference_key), "spa_temp": ("st_module.", _attention_key)}
        return mapping, {"encoder": DRN_ALIASES, "spa_temp": TEMPORAL_ALIASES}
    return {"encoder": ("encoder.", _encoder_key), "depth": ("decoder.", _decoder_key(5, reversed_heads=True))}, {}


def _input_size(path: Path, state: dict) -> tuple[int, int]:
    missing = [name for name in SIZE_ENTRIES if name not in state]
    if missing:
        raise ValueError(f"{path}: missing the entries {missing} (the official encoder.pth stores the training size)")
    height, width = (state[name] for name in SIZE_ENTRIES)
    if not all(isinstance(v, int) and v > 0 for v in (height, width)):
        raise ValueError(f"{path}: height and width must be positive integers, got {height!r}, {width!r}")
    return height, width


def _tcdepth_config(tensors: dict[str, dict[str, torch.Tensor]]) -> ModelConfig:
    """The reference TC-Depth: DRN-C-26, per-block ``sigma_3d``, per-view temporal BatchNorm, KITTI attention
    camera, bilinear decoder."""
    sigma_keys = sorted((k for k in tensors["spa_temp"] if k.endswith(".spatial_attn.sigma_3d")),
                        key=lambda k: int(k.split(".")[1]))
    if not sigma_keys:
        raise ValueError("spa_temp.pth: no module.<i>.spatial_attn.sigma_3d entries (is it a Spatial_Temp_Module?)")
    sigmas = [float(tensors["spa_temp"][k].reshape(-1)[0]) for k in sigma_keys]
    pose_encoder = _resnet_name(tensors.get("pose_encoder"))
    return ModelConfig(architecture="tcdepth", encoder="drn_c_26", pose_encoder=pose_encoder, num_blocks=len(sigmas),
                       sigma=sigmas, temporal_norm="per_view", attention_camera="kitti", upsample_mode="bilinear")


def _monodepth2_config(tensors: dict[str, dict[str, torch.Tensor]]) -> ModelConfig:
    """The reference Monodepth2: ResNet encoder, nearest-upsampling decoder."""
    return ModelConfig(architecture="monodepth2", encoder=_resnet_name(tensors["encoder"]),
                       pose_encoder=_resnet_name(tensors.get("pose_encoder")), upsample_mode="nearest")


def _resnet_name(state: dict[str, torch.Tensor] | None) -> str:
    """``resnet50`` when the encoder has bottleneck blocks, else ``resnet18`` (also when there is no encoder)."""
    return "resnet50" if state is not None and "encoder.layer1.0.conv3.weight" in state else "resnet18"


def _encoder_key(key: str) -> str:
    """The official encoders wrap the network as ``self.encoder`` and keep its module names."""
    return f"encoder.{key}"


def _decoder_key(num_stages: int, reversed_heads: bool) -> Callable[[str], str]:
    """tcdepth ``DepthDecoder`` key -> official ``decoder.<i>`` key: stage ``i``'s two ConvBlocks are ``2i`` and
    ``2i+1``; the four heads follow, TC-Depth's coarsest first (dispconv 3..0), Monodepth2's finest first (0..3)."""

    def official(key: str) -> str:
        kind, index, rest = key.split(".", 2)
        index = int(index)
        if kind == "pre":
            return f"decoder.{2 * index}.{rest}"
        if kind == "post":
            return f"decoder.{2 * index + 1}.{rest}"
        return f"decoder.{2 * num_stages + (3 - index if reversed_heads else index)}.{rest}"

    return official


def _reference_key(key: str) -> str:
    return key.replace("block.conv.", "conv.conv.", 1).replace("logits.", "ddv.", 1)


SPATIAL_NAMES = {"value": "value_conv", "project_context": "ca_conv", "project_input": "context_conv",
                 "fuse": "conv1", "gamma": "gamma"}
TEMPORAL_NAMES = {"query_key": "f_key", "value": "f_value", "out": "f_out", "fuse": "fuse_layer"}


def _attention_key(key: str) -> str:
    half, index, name, *rest = key.split(".")
    if half == "spatial":
        return ".".join([f"module.{index}.spatial_attn", SPATIAL_NAMES[name], *rest])
    return ".".join([f"module.{index}.temp_attn", TEMPORAL_NAMES[name], *rest])


POSE_LAYERS = {"squeeze": "net.0", "pose.0": "net.1", "pose.2": "net.2", "pose.4": "net.3"}


def _pose_key(key: str) -> str:
    layer, parameter = key.rsplit(".", 1)
    return f"{POSE_LAYERS[layer]}.{parameter}"


POSE_MAPPING = {"pose_encoder": ("encoder.", _encoder_key), "pose": ("decoder.", _pose_key)}


def _load(module: nn.Module, mapping: dict[str, tuple[str, Callable[[str], str]]],
          tensors: dict[str, dict[str, torch.Tensor]], aliases: dict[str, tuple],
          ignored: dict[str, re.Pattern]) -> list[str]:
    """Copy the official tensors into ``module`` (mapping: file stem -> (tcdepth key prefix, tcdepth key without
    the prefix -> official key)); keys matching ``ignored[stem]`` are skipped, ``aliases[stem]`` ((pattern, key it
    repeats) pairs) must equal the key they repeat. Returns the problems found, by file and key (nothing is copied
    when there are any)."""
    own = module.state_dict()
    state, problems = {}, []
    for stem, (prefix, official_key) in mapping.items():
        source = tensors[stem]
        expected = {official_key(key.removeprefix(prefix)): key for key in own if key.startswith(prefix)}
        missing = [k for k in expected if k not in source]
        mismatched, unexpected = [], []
        for key, value in source.items():
            if key in expected:
                target = own[expected[key]]
                if value.numel() == 1 and target.numel() == 1:
                    value = value.reshape(target.shape)
                if value.shape != target.shape:
                    mismatched.append(f"{key} {tuple(value.shape)}, expected {tuple(target.shape)}")
                else:
                    state[expected[key]] = value.to(target.dtype)
            elif CLASSIFIER.match(key) or (stem in ignored and ignored[stem].match(key)):
                continue
            elif (alias := _alias_of(key, aliases.get(stem, ()))) is not None:
                if alias in source and not torch.equal(source[alias], value):
                    mismatched.append(f"{key} differs from {alias}, which it repeats")
            else:
                unexpected.append(key)
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", mismatched)):
            if keys:
                problems.append(f"{stem}.pth {label} keys ({len(keys)}): {', '.join(keys)}")
    if not problems:
        module.load_state_dict(state)
    return problems


def _alias_of(key: str, aliases: tuple) -> str | None:
    for pattern, target in aliases:
        if (match := pattern.match(key)) is not None:
            return match.expand(target) if isinstance(target, str) else target(match)
    return None


def _check_bins(depth_net: TCDepth, state: dict[str, torch.Tensor]) -> list[str]:
    """The reference decoder's bins are fixed (``linspace(1/max_depth, 1/min_depth, n)``), not loaded: the file's
    ``ref_disp`` must hold these values."""
    if REFERENCE_BINS not in state:
        return [f"ref_depth.pth missing keys (1): {REFERENCE_BINS}"]
    bins = depth_net.reference_decoder.bins
    value = state[REFERENCE_BINS]
    if value.numel() != bins.numel():
        return [f"ref_depth.pth mis-shaped keys (1): {REFERENCE_BINS} {tuple(value.shape)}, expected "
                f"{tuple(bins.shape)}"]
    if not torch.allclose(value.reshape(bins.shape).float(), bins, rtol=1e-6, atol=0.0):
        return [f"ref_depth.pth {REFERENCE_BINS}: bins differ from linspace({bins.min():.4g}, {bins.max():.4g}, "
                f"{bins.numel()}), which tcdepth fixes"]
    return []
