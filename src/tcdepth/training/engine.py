"""``tcdepth train``: build the Lightning trainer for an experiment, run it, and export the trained weights.

Everything goes to the experiment's run directory (:class:`tcdepth.runs.Run`): the config, a checkpoint per epoch
(the latest also as ``last.ckpt``, and ``interrupted.ckpt`` after Ctrl-C or SIGTERM), TensorBoard events and
``metrics.csv``, and at the end the depth and pose weights and ``run_info.json``. Calling it again on the same run
directory resumes from the newest of ``last.ckpt`` and ``interrupted.ckpt`` exactly where it stopped.
"""

from __future__ import annotations

import csv
import random
import shutil
import time
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.plugins.io import TorchCheckpointIO

from tcdepth.experiment import ExperimentConfig
from tcdepth.io import atomic_path
from tcdepth.runs import Run, describe_device
from tcdepth.training.data_module import DepthDataModule
from tcdepth.training.module import DepthModule


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints are written to a temporary file and renamed: a crash never leaves a truncated checkpoint."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        with atomic_path(path) as tmp:
            super().save_checkpoint(checkpoint, tmp, storage_options)


class RandomStateCheckpoint(Callback):
    """Stores and restores the Python, NumPy and torch random states with every checkpoint (exact resume)."""

    def state_dict(self):
        name, keys, pos, has_gauss, cached = np.random.get_state()
        # Plain Python and torch types only, so that checkpoints load with torch.load(weights_only=True).
        return {"python": random.getstate(), "numpy": (name, torch.from_numpy(keys.copy()), pos, has_gauss, cached),
                "torch": torch.get_rng_state()}

    def load_state_dict(self, state_dict):
        random.setstate(state_dict["python"])
        name, keys, pos, has_gauss, cached = state_dict["numpy"]
        np.random.set_state((name, keys.numpy(), pos, has_gauss, cached))
        torch.set_rng_state(state_dict["torch"])


class InterruptCheckpoint(Callback):
    """Saves ``interrupted.ckpt`` when a run is stopped by Ctrl-C or a signal, so that it can be resumed."""

    def __init__(self, path: Path):
        self.path = path

    def on_exception(self, trainer, pl_module, exception):
        if isinstance(exception, KeyboardInterrupt) or trainer.received_sigterm:
            trainer.save_checkpoint(self.path)
            print(f"\ninterrupted: saved {self.path}; run the same command again to resume")


class TrainingClock(Callback):
    """Counts the seconds spent fitting, over every session of a resumed run (the total is saved in checkpoints)."""

    def __init__(self):
        self.seconds = 0.0
        self._started: float | None = None

    def on_fit_start(self, trainer, pl_module):
        self._started = time.perf_counter()

    def on_fit_end(self, trainer, pl_module):
        self.seconds = self.elapsed()
        self._started = None

    def elapsed(self) -> float:
        return self.seconds + (time.perf_counter() - self._started if self._started is not None else 0.0)

    def state_dict(self):
        return {"seconds": self.elapsed()}

    def load_state_dict(self, state_dict):
        self.seconds = float(state_dict["seconds"])


class _AppendingExperimentWriter(ExperimentWriter):
    """Lightning's CSV writer deletes an existing ``metrics.csv``; this one keeps it and appends, with its header."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as handle:
                self.metrics_keys = next(csv.reader(handle), [])


class ResumableCSVLogger(CSVLogger):
    """``logs/metrics.csv`` that survives resuming: every session of a run appends its rows to the same file."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingExperimentWriter(log_dir=self.log_dir)
        return self._experiment


def latest_checkpoint(run: Run) -> Path | None:
    """The newest of ``last.ckpt`` and ``interrupted.ckpt`` of a run, or None."""
    candidates = [p for p in (run.checkpoint(Run.LAST_CHECKPOINT), run.checkpoint(Run.INTERRUPTED_CHECKPOINT))
                  if p.is_file()]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def build_trainer(cfg: ExperimentConfig, enable_progress_bar: bool = True,
                  extra_callbacks: list[Callback] | None = None) -> L.Trainer:
    t = cfg.train
    run = Run.of(cfg)
    checkpoint = ModelCheckpoint(dirpath=run.checkpoint_dir, filename=Run.EPOCH_CHECKPOINT, save_last=True,
                                 save_top_k=-1, every_n_epochs=1, auto_insert_metric_name=False)
    callbacks = [checkpoint, RandomStateCheckpoint(), InterruptCheckpoint(run.checkpoint(Run.INTERRUPTED_CHECKPOINT)),
                 LearningRateMonitor(logging_interval="epoch"), TrainingClock()]
    if enable_progress_bar:
        callbacks.append(TQDMProgressBar(refresh_rate=1))
    callbacks += extra_callbacks or []
    loggers = [TensorBoardLogger(run.path, name=Run.LOGS, version=""),
               ResumableCSVLogger(run.path, name=Run.LOGS, version="")]
    strategy = t.strategy
    if strategy == "auto" and (t.num_nodes > 1 or (isinstance(t.devices, int) and t.devices > 1)):
        # During the pose warm-up the depth network gets no gradient, which plain DDP refuses.
        strategy = "ddp_find_unused_parameters_true" if t.pose_warmup_steps else "ddp"
    return L.Trainer(
        default_root_dir=run.path,
        max_epochs=t.epochs,
        max_steps=t.max_steps,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=strategy,
        sync_batchnorm=t.sync_batchnorm,
        precision=t.precision,
        gradient_clip_val=t.grad_clip,
        log_every_n_steps=t.log_every_steps,
        check_val_every_n_epoch=t.val_every_epochs,
        num_sanity_val_steps=0,
        deterministic=t.deterministic,
        use_distributed_sampler=False,
        callbacks=callbacks,
        logger=loggers,
        plugins=[AtomicCheckpointIO()],
        enable_progress_bar=enable_progress_bar,
    )


# DepthDataModule saves the position inside the epoch and its sampler resumes there, which Lightning cannot see.
warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch ended")


def train(cfg: ExperimentConfig, fresh: bool = False, enable_progress_bar: bool = True,
          extra_callbacks: list[Callback] | None = None) -> Run:
    """Train (or resume) the experiment; returns its run, which holds the checkpoints and, once the training has
    finished, the exported weights and ``run_info.json``.

    ``fresh`` deletes the checkpoints and logs of an earlier run of the same name first.
    """
    run = Run.of(cfg)
    if fresh:
        for stale in (run.checkpoint_dir, run.log_dir):
            shutil.rmtree(stale, ignore_errors=True)
    run.path.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    run.save_experiment(cfg)
    module = DepthModule(cfg)
    data = DepthDataModule(cfg)
    trainer = build_trainer(cfg, enable_progress_bar=enable_progress_bar, extra_callbacks=extra_callbacks)
    ckpt = latest_checkpoint(run)
    if ckpt is not None and trainer.is_global_zero:
        print(f"resuming from {ckpt}")
    if ckpt is None and cfg.train.init_from:
        module.initialise_from(cfg.train.init_from)
    trainer.fit(module, datamodule=data, ckpt_path=ckpt)
    if trainer.interrupted:
        return run
    if trainer.is_global_zero:
        run.save_networks(module.depth_net, module.pose_net, cfg.model)
        clock = next(c for c in trainer.callbacks if isinstance(c, TrainingClock))
        run.write_info(describe_device(str(trainer.strategy.root_device)), trainer.global_step, clock.seconds)
    return run
