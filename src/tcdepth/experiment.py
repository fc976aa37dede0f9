"""The experiment config: the data, model, loss and training sections of one run (the YAML files in ``configs/``
and a run's ``config.yaml``), typed and validated, with ``section.key=value`` overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tcdepth.config import ConfigError, apply_overrides, from_dict, load_config, read_yaml_mapping
from tcdepth.data.config import DataConfig
from tcdepth.losses.config import LossConfig
from tcdepth.models.config import ModelConfig

FRAME_IDS = (0, -1, 1)


@dataclass
class TeacherConfig:
    """Where the single-frame teacher of the motion loss comes from, and how it runs.

    ``mode``: ``none``: no teacher (the motion loss is off). ``checkpoint``: a trained Monodepth2 run directory or
    its ``depth.safetensors``, frozen. ``joint``: a Monodepth2 model trained alongside with its own objective, as the
    TC-Depth authors suggested when no teacher is available.

    ``path`` may hold ``{epoch}`` (e.g. ``teacher/weights_{epoch}``): at the start of every epoch ``e`` in which
    the motion loss is active, the teacher is reloaded from the highest epoch ``<= e`` whose weights exist (the
    reference loads ``weights_{min(e, 19)}`` of a Monodepth2 run that saved epochs 0-19).

    ``upsample_mode``: the teacher decoder's upsampling; None keeps the teacher's own (Monodepth2: nearest). The
    reference's teacher decoder upsamples bilinearly although its Monodepth2 weights were trained with nearest.

    ``batch_statistics``: a ``checkpoint`` teacher normalises with each batch's statistics (train-mode BatchNorm),
    as the reference's teacher, which is never put in eval mode; False uses its running statistics. A ``joint``
    teacher trains and always uses the batch's statistics.
    """

    mode: Literal["none", "checkpoint", "joint"] = "joint"
    path: str | None = None
    upsample_mode: Literal["nearest", "bilinear"] | None = None
    batch_statistics: bool = False

    def __post_init__(self):
        if self.mode == "checkpoint" and not self.path:
            raise ValueError("path is required when mode is 'checkpoint' (a Monodepth2 run directory or its "
                             "depth.safetensors)")
        if self.upsample_mode not in (None, "nearest", "bilinear"):
            raise ValueError(f"upsample_mode: expected nearest, bilinear or null, got {self.upsample_mode!r}")
        if self.per_epoch and self.mode != "checkpoint":
            raise ValueError(f"path {self.path!r}: per-epoch weights ('{{epoch}}') need mode 'checkpoint'")

    @property
    def per_epoch(self) -> bool:
        """Whether ``path`` names one set of weights per epoch (it holds ``{epoch}``)."""
        return self.path is not None and "{epoch}" in self.path

    def path_at(self, epoch: int) -> Path:
        """The teacher weights for epoch ``epoch``: ``path`` with ``{epoch}`` replaced by the highest epoch
        ``<= epoch`` whose path exists (``path`` itself when it holds no ``{epoch}``)."""
        if not self.per_epoch:
            return Path(self.path)
        for candidate in range(epoch, -1, -1):
            path = Path(self.path.replace("{epoch}", str(candidate)))
            if path.exists():
                return path
        raise FileNotFoundError(f"train.teacher.path {self.path}: no weights for epoch {epoch} or any earlier epoch")


@dataclass
class TrainConfig:
    """Optimisation and engine settings (defaults: the TC-Depth paper's schedule).

    ``channels_last`` stores the networks' weights and activations channels-last (faster convolutions under
    ``bf16-mixed`` on GPUs; measured in benchmarks/README.md).

    ``keep_checkpoints``: how many of the newest per-epoch checkpoints stay on disk (besides ``last.ckpt``).

    ``pose_warmup_steps``: for the first N optimiser steps only the pose network learns; the depth network runs
    without gradients, so its initial, nearly constant disparity is the depth the poses are fitted against, and it
    does not adapt to the random motion of a fresh pose network (docs/results.md, tiny synthetic configurations).
    Multi-GPU runs then use DDP with ``find_unused_parameters`` (``strategy: auto``; an explicit plain ``ddp``
    would refuse the warm-up steps).

    ``init_from``: a run directory (or a ``depth.safetensors``) whose weights initialise the networks (fine-tuning,
    e.g. of an imported official checkpoint), after any ImageNet initialisation; a resumed run continues from its
    own checkpoint instead. ``init_parts`` says which: ``depth``: the whole depth network (the ``model`` section
    must describe the same network); ``encoder``: only the depth encoder, every tensor of it taken from the source's
    encoder under the same name and shape (e.g. TC-Depth's ``efficientnet_lite0_tiny`` from a Monodepth2 run's
    ``efficientnet_lite0``, whose first eleven blocks it is); ``decoder``: the depth decoder's stages, aligned
    from the finest, and its disparity heads, every tensor of the same shape (TC-Depth's from a Monodepth2 run: all
    but the input convolution of its 1/8 stage); ``pose``: the pose network, when the source has one.
    """

    epochs: int = 30
    max_steps: int = -1
    batch_size: int = 6
    learning_rate: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    milestones: list[int] = field(default_factory=lambda: [15, 20])
    gamma: float = 0.25
    precision: Literal["32-true", "bf16-mixed", "16-mixed"] = "32-true"
    channels_last: bool = False
    accelerator: Literal["auto", "cpu", "gpu", "cuda"] = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    sync_batchnorm: bool = False
    grad_clip: float | None = None
    pose_warmup_steps: int = 0
    seed: int = 0
    out_dir: str = "runs"
    log_every_steps: int = 50
    image_every_steps: int = 500
    val_every_epochs: int = 1
    max_nonfinite_steps: int = 20
    deterministic: bool = False
    keep_checkpoints: int = 2
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    init_from: str | None = None
    init_parts: list[Literal["depth", "encoder", "decoder", "pose"]] = field(default_factory=lambda: ["depth", "pose"])

    def __post_init__(self):
        for name in ("epochs", "batch_size", "log_every_steps", "image_every_steps", "val_every_epochs",
                     "max_nonfinite_steps", "num_nodes", "keep_checkpoints"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.max_steps != -1 and self.max_steps <= 0:
            raise ValueError(f"max_steps must be positive or -1 (no limit), got {self.max_steps}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if sorted(self.milestones) != list(self.milestones):
            raise ValueError(f"milestones must be increasing, got {self.milestones}")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")
        if self.pose_warmup_steps < 0:
            raise ValueError(f"pose_warmup_steps must be >= 0, got {self.pose_warmup_steps}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"grad_clip must be positive or null, got {self.grad_clip}")
        if not self.init_parts or not set(self.init_parts) <= {"depth", "encoder", "decoder", "pose"}:
            raise ValueError("init_parts: expected a non-empty list of depth, encoder, decoder, pose, got "
                             f"{self.init_parts}")
        if "depth" in self.init_parts and {"encoder", "decoder"} & set(self.init_parts):
            raise ValueError("init_parts: 'depth' already includes the encoder and the decoder; give 'depth' or "
                             "the parts")


@dataclass
class ExperimentConfig:
    """Everything one training run needs; the YAML files in ``configs/`` are instances of it."""

    name: str = "tcdepth"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        if list(self.data.frame_ids) != list(FRAME_IDS):
            raise ValueError(f"data.frame_ids: the TC-Depth and Monodepth2 networks and objectives use the frames "
                             f"{list(FRAME_IDS)} (centre, previous, next), got {list(self.data.frame_ids)}")
        if self.model.architecture == "tcdepth" and self.loss.use_motion_loss and self.train.teacher.mode == "none":
            raise ValueError("loss.use_motion_loss needs a teacher: set train.teacher.mode to 'checkpoint' (with "
                             "train.teacher.path) or 'joint', or set loss.use_motion_loss=false")
        if self.model.architecture == "monodepth2" and self.loss.photometric_normalisation is not None:
            raise ValueError("loss.photometric_normalisation: the Monodepth2 objective always takes the mean of "
                             "min(r, r_id) over all pixels; remove the key (it applies to TC-Depth only)")
        if not set(self.loss.scales) <= set(self.data.scales):
            raise ValueError(f"loss.scales {list(self.loss.scales)} need images at those scales; data.scales is "
                             f"{list(self.data.scales)}")


def load_experiment(path: str | Path | None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read an experiment YAML file (or the defaults when ``path`` is None) with ``section.key=value`` overrides."""
    return load_config(ExperimentConfig, path, overrides)


def load_model_section(path: str | Path | None, overrides: list[str] | None = None) -> ModelConfig:
    """The ``model:`` section of an experiment YAML file (defaults when ``path`` is None) with overrides relative to
    it (``encoder=drn_tiny``); the other sections are not read."""
    section = {}
    if path is not None:
        model = read_yaml_mapping(path).get("model") or {}
        if not isinstance(model, dict):
            raise ConfigError(f"config file {path}: expected a mapping under 'model:'")
        section = dict(model)
    apply_overrides(section, overrides or [])
    return from_dict(ModelConfig, section, prefix="model")
