"""Run directories: what ``tcdepth train`` (or ``tcdepth import-weights``) writes and every other command reads.

::

    <train.out_dir>/<name>/
        config.yaml            the experiment as trained (tcdepth.experiment.ExperimentConfig)
        depth.safetensors      the depth network with its ModelConfig (tcdepth.models.weights)
        pose.safetensors       the pose network (absent for a depth-only run)
        checkpoints/           Lightning checkpoints to resume: last.ckpt, epoch=N.ckpt, interrupted.ckpt
        logs/                  TensorBoard events and metrics.csv
        run_info.json          device, steps and wall time of the training
        evaluation/            the default output folder of `tcdepth evaluate` for this run

:class:`Run` owns these names; :func:`load_trained_model` loads a run directory or a bare depth weights file;
:func:`import_official_run` writes one from an official TC-Depth or Monodepth2 checkpoint folder.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from tcdepth.config import save_config
from tcdepth.data.config import DataConfig
from tcdepth.experiment import ExperimentConfig, load_experiment
from tcdepth.io import atomic_directory, atomic_write_text
from tcdepth.models import ModelConfig, PoseNet, import_official, load_weights, read_model_config, save_weights

DEFAULT_NETWORK_SIZE = (192, 640)


def describe_device(device: str) -> str:
    """A readable name of a torch device: ``"cpu (2 cores, x86_64)"`` or the CUDA device name."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(torch.device(device))}"
    return f"cpu ({os.cpu_count()} cores, {platform.machine()})"


class Run:
    """The run directory at ``path`` (see the module docstring for its layout)."""

    CONFIG = "config.yaml"
    DEPTH_WEIGHTS = "depth.safetensors"
    POSE_WEIGHTS = "pose.safetensors"
    CHECKPOINTS = "checkpoints"
    LAST_CHECKPOINT = "last.ckpt"
    INTERRUPTED_CHECKPOINT = "interrupted.ckpt"
    EPOCH_CHECKPOINT = "epoch={epoch}"  # Lightning filename template (".ckpt" is appended)
    LOGS = "logs"
    METRICS = "metrics.csv"
    INFO = "run_info.json"
    EVALUATION = "evaluation"

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def of(cls, experiment: ExperimentConfig) -> Run:
        """The run directory of an experiment: ``<train.out_dir>/<name>``."""
        return cls(Path(experiment.train.out_dir) / experiment.name)

    @classmethod
    def is_run_dir(cls, path: str | Path) -> bool:
        """Whether ``path`` is a run directory (it holds ``config.yaml``)."""
        return (Path(path) / cls.CONFIG).is_file()

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # ------------------------------------------------------------------------------------------------ layout
    @property
    def config_path(self) -> Path:
        return self.path / self.CONFIG

    @property
    def depth_weights(self) -> Path:
        return self.path / self.DEPTH_WEIGHTS

    @property
    def pose_weights(self) -> Path:
        return self.path / self.POSE_WEIGHTS

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / self.CHECKPOINTS

    def checkpoint(self, name: str) -> Path:
        """``checkpoints/<name>`` (e.g. :attr:`LAST_CHECKPOINT`)."""
        return self.checkpoint_dir / name

    @property
    def log_dir(self) -> Path:
        return self.path / self.LOGS

    @property
    def metrics_csv(self) -> Path:
        return self.log_dir / self.METRICS

    @property
    def info_path(self) -> Path:
        return self.path / self.INFO

    @property
    def evaluation_dir(self) -> Path:
        return self.path / self.EVALUATION

    # ------------------------------------------------------------------------------------------------ contents
    def has_weights(self) -> bool:
        """Whether the run holds its exported depth network (the training finished, or it was imported)."""
        return self.depth_weights.is_file()

    def experiment(self) -> ExperimentConfig:
        """The run's experiment (``config.yaml``), with the model settings of its depth weights when present."""
        if not self.config_path.is_file():
            raise FileNotFoundError(f"{self.path} is not a run directory: it has no {self.CONFIG}")
        experiment = load_experiment(self.config_path)
        if self.has_weights():
            experiment.model = self.model_config()
        return experiment

    def model_config(self) -> ModelConfig:
        """The model settings stored with the depth weights (read without loading the network)."""
        return read_model_config(self.depth_weights)[0]

    def network_size(self) -> tuple[int, int]:
        """``(height, width)`` the run was trained at (its ``data`` section)."""
        data = load_experiment(self.config_path).data
        return data.height, data.width

    def load_depth_net(self, device: str = "cpu") -> tuple[nn.Module, ModelConfig]:
        """The depth network and its settings; raises when the run has not exported it."""
        if not self.has_weights():
            raise FileNotFoundError(f"run directory {self.path} has no {self.DEPTH_WEIGHTS} (is the training "
                                    "finished?)")
        network, cfg = load_weights(self.depth_weights, device)
        if isinstance(network, PoseNet):
            raise ValueError(f"{self.depth_weights} holds a pose network, not a depth network")
        return network, cfg

    def load_pose_net(self, device: str = "cpu") -> PoseNet | None:
        """The pose network, or None for a depth-only run."""
        if not self.pose_weights.is_file():
            return None
        network, _ = load_weights(self.pose_weights, device)
        if not isinstance(network, PoseNet):
            raise ValueError(f"{self.pose_weights} is not a pose network")
        return network

    def save_experiment(self, experiment: ExperimentConfig) -> None:
        save_config(experiment, self.config_path)

    def save_networks(self, depth_net: nn.Module, pose_net: nn.Module | None, model_cfg: ModelConfig) -> None:
        """Export the trained networks (atomically, each file complete or absent)."""
        save_weights(depth_net, model_cfg, self.depth_weights)
        if pose_net is not None:
            save_weights(pose_net, model_cfg, self.pose_weights)

    def write_info(self, device: str, steps: int, wall_time_s: float) -> dict:
        """Write ``run_info.json`` and return its content.

        Args:
            device: the device description (:func:`describe_device`).
            steps: optimiser steps of the finished training.
            wall_time_s: seconds spent training, summed over resumed sessions.
        """
        import torch

        info = {"device": device, "torch": torch.__version__, "steps": int(steps), "wall_time_s": float(wall_time_s)}
        atomic_write_text(self.info_path, json.dumps(info, indent=2) + "\n")
        return info

    def read_info(self) -> dict | None:
        """The content of ``run_info.json``, or None when the run has none."""
        if not self.info_path.is_file():
            return None
        try:
            info = json.loads(self.info_path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{self.info_path}: not valid JSON ({err})") from err
        missing = {"device", "steps", "wall_time_s"} - set(info)
        if missing:
            raise ValueError(f"{self.info_path}: missing field(s) {sorted(missing)}")
        return info


@dataclass
class TrainedModel:
    """A depth network (and the pose network when available) with the settings it was trained with.

    ``height, width``: the network input size to use (the run's training size unless given); ``source``: what it
    was loaded from.
    """

    depth_net: nn.Module
    pose_net: PoseNet | None
    experiment: ExperimentConfig
    height: int
    width: int
    source: str

    @property
    def model_config(self) -> ModelConfig:
        return self.experiment.model


def load_trained_model(path: str | Path, height: int | None = None, width: int | None = None,
                       device: str = "cpu") -> TrainedModel:
    """Load a run directory (its depth and, when present, pose network and its training size) or a bare depth
    weights file (no pose network; size :data:`DEFAULT_NETWORK_SIZE` unless given)."""
    path = Path(path)
    if path.is_dir():
        run = Run(path)
        experiment = run.experiment() if Run.is_run_dir(path) else None
        depth_net, model_cfg = run.load_depth_net(device)
        pose_net = run.load_pose_net(device)
        size = run.network_size() if experiment is not None else DEFAULT_NETWORK_SIZE
        experiment = experiment or ExperimentConfig(model=model_cfg)
    elif path.is_file():
        depth_net, model_cfg = load_weights(path, device)
        if isinstance(depth_net, PoseNet):
            raise ValueError(f"{path} holds a pose network; give the depth network ({Run.DEPTH_WEIGHTS}) or the "
                             "run directory")
        pose_net, experiment, size = None, ExperimentConfig(model=model_cfg), DEFAULT_NETWORK_SIZE
    else:
        raise FileNotFoundError(f"{path} is neither a run directory nor a depth weights file")
    return TrainedModel(depth_net, pose_net, experiment, height or size[0], width or size[1], str(path))


def import_official_run(source: str | Path, path: str | Path, format: str = "auto") -> Run:  # noqa: A002
    """Write the run directory ``path`` from an official checkpoint folder (:func:`tcdepth.models.import_official`).

    The run holds ``config.yaml`` (the reference's model settings; ``data`` at the checkpoint's training size, other
    sections at their defaults), the depth network and, when the folder has pose files, the pose network. Nothing is
    written unless the whole folder imports; ``path`` must not exist or be empty.
    """
    path = Path(path)
    with atomic_directory(path) as tmp:
        official = import_official(source, format)
        experiment = ExperimentConfig(name=path.name, data=DataConfig(height=official.height, width=official.width),
                                      model=official.model)
        staged = Run(tmp)
        staged.save_experiment(experiment)
        staged.save_networks(official.depth_net, official.pose_net, official.model)
    return Run(path)
