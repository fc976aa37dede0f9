"""``tcdepth train``: build the Lightning trainer for an experiment, run it, and export the trained weights.

Everything goes to the experiment's run directory (:class:`tcdepth.runs.Run`): the config, the checkpoints of the
last ``train.keep_checkpoints`` epochs (the latest also as ``last.ckpt``, and ``interrupted.ckpt`` after Ctrl-C or
SIGTERM), TensorBoard events and ``metrics.csv``, and at the end the depth and pose weights and ``run_info.json``.
Calling it again on the same run directory resumes exactly where it stopped, from the newest checkpoint that loads
(a damaged one is skipped with a warning), whatever killed the earlier process.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import random
import shutil
import signal
import sys
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
from lightning.pytorch.utilities.exceptions import SIGTERMException

from tcdepth.experiment import ExperimentConfig
from tcdepth.io import atomic_path, atomic_write_text, check_output_dir, remove_temporary_files
from tcdepth.runs import Run, describe_device
from tcdepth.training.data_module import DepthDataModule
from tcdepth.training.module import DepthModule


class TrainingInterrupted(RuntimeError):
    """The training stopped on SIGINT or SIGTERM; ``checkpoint`` is where it resumes from (None when it stopped
    before its first step)."""

    def __init__(self, signum: int, checkpoint: Path | None):
        self.signum = signum
        self.checkpoint = checkpoint
        name = signal.Signals(signum).name
        where = f"saved {checkpoint}" if checkpoint is not None else "no new checkpoint"
        super().__init__(f"interrupted by {name}: {where}; run the same command again to resume")

    @property
    def exit_code(self) -> int:
        """The shell's code for a process ended by the signal (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints are written to a temporary file and renamed: a crash never leaves a truncated checkpoint."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        with atomic_path(path) as tmp:
            super().save_checkpoint(checkpoint, tmp, storage_options)


class EpochCheckpoints(ModelCheckpoint):
    """``epoch=N.ckpt`` after every epoch and ``last.ckpt``; only the newest ``keep`` epoch checkpoints stay.

    A rerun of an epoch overwrites its checkpoint instead of adding ``epoch=N-v1.ckpt``.
    """

    def __init__(self, run: Run, keep: int):
        super().__init__(dirpath=run.checkpoint_dir, filename=Run.EPOCH_CHECKPOINT, save_last=True, save_top_k=-1,
                         every_n_epochs=1, auto_insert_metric_name=False, enable_version_counter=False)
        self.run = run
        self.keep = keep

    def _save_checkpoint(self, trainer, filepath):
        super()._save_checkpoint(trainer, filepath)
        if trainer.is_global_zero:
            for stale in prune_epoch_checkpoints(self.run, self.keep):
                self.best_k_models.pop(str(stale), None)


def prune_epoch_checkpoints(run: Run, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` epoch checkpoints; returns the deleted ones. Also called when a run starts:
    a process killed between writing a checkpoint and pruning leaves one too many."""
    stale = run.epoch_checkpoints()[:-keep]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


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


class StopSignals(Callback):
    """SIGINT (Ctrl-C) and SIGTERM stop the training at the next step boundary, where ``interrupted.ckpt`` is
    written; a second Ctrl-C stops at once.

    Both signals go through Lightning's SIGTERM path, which stops after a step has been logged (so the checkpoint
    holds that step's rows of ``metrics.csv``) and broadcasts the stop to every rank. A signal outside ``fit`` (while
    the networks are built or exported) raises :class:`TrainingInterrupted` at once.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, path: Path):
        self.path = path
        self.received: int | None = None
        self.saved: Path | None = None
        self._fitting = False
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def uninstall(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _handle(self, signum, frame) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # the second Ctrl-C
        if self.received is None:
            self.received = signum
        if not self._fitting:
            raise TrainingInterrupted(signum, None)
        if signum == signal.SIGINT:
            signal.raise_signal(signal.SIGTERM)  # Lightning's handler marks the trainer; this one sees it again

    # Between these hooks Lightning's SIGTERM handler is installed (it composes this one).
    def on_train_start(self, trainer, pl_module):
        self._fitting = True

    def on_train_end(self, trainer, pl_module):
        self._fitting = False

    def on_exception(self, trainer, pl_module, exception):
        self._fitting = False
        # Inside validation the epoch's own checkpoint is not written yet; resuming reruns that epoch from the one
        # before, which a mid-validation state could not do exactly.
        if isinstance(exception, SIGTERMException) and not trainer.validating:
            trainer.save_checkpoint(self.path, weights_only=False)
            self.saved = self.path


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
    """Keeps an existing ``metrics.csv`` (Lightning's writer deletes it) and rewrites it atomically on every save, so
    that a killed process never leaves a half-written row."""

    def _check_log_dir_exists(self) -> None:
        self.rows = read_metrics(Path(self.metrics_file_path))
        self.metrics_keys = sorted({key for row in self.rows for key in row})

    def save(self) -> None:
        if not self.metrics:
            return
        self.rows += [{k: str(v) for k, v in row.items()} for row in self.metrics]
        self.metrics_keys = sorted(set(self.metrics_keys).union(*self.metrics))
        self.metrics = []
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.metrics_keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.metrics_file_path, buffer.getvalue())


def read_metrics(path: Path) -> list[dict[str, str]]:
    """The rows of a ``metrics.csv`` (empty cells left out); none when the file does not exist."""
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return [{k: v for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(handle)]


class ResumableCSVLogger(CSVLogger):
    """``logs/metrics.csv`` that survives resuming: every session of a run adds its rows to the same file."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingExperimentWriter(log_dir=self.log_dir)
        return self._experiment

    def rows_written(self) -> int | None:
        """Write the pending rows and return how many rows the file holds (None on ranks other than 0)."""
        experiment = self.experiment
        if not isinstance(experiment, _AppendingExperimentWriter):
            return None
        experiment.save()
        return len(experiment.rows)


class MetricsRows(Callback):
    """Stores in every checkpoint how many rows ``metrics.csv`` held when it was written; resuming from it drops
    the rows logged after it (they are logged again), so that the file equals the one of an uninterrupted run."""

    def __init__(self, logger: ResumableCSVLogger):
        self.logger = logger

    def state_dict(self):
        return {"rows": self.logger.rows_written()}

    @staticmethod
    def trim(path: Path, rows: int) -> int:
        """Keep the first ``rows`` rows of ``metrics.csv``; returns how many were dropped."""
        existing = read_metrics(path)
        if len(existing) <= rows:
            return 0
        keys = sorted({key for row in existing[:rows] for key in row})
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(existing[:rows])
        atomic_write_text(path, buffer.getvalue())
        return len(existing) - rows


class ProgressLines(Callback):
    """One line every ``every`` steps for logs (``--no-progress``): step, loss, samples/s and the time left."""

    def __init__(self, every: int, stream=None):
        self.every = every
        self.stream = stream or sys.stdout
        self._start: tuple[float, int] | None = None

    def on_train_start(self, trainer, pl_module):
        self._start = (time.perf_counter(), trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step
        total = trainer.estimated_stepping_batches
        if step % self.every and step != total:
            return
        started, first = self._start
        elapsed = time.perf_counter() - started
        done = step - first
        rate = done / elapsed if elapsed > 0 else 0.0
        samples = rate * pl_module.cfg.train.batch_size * trainer.world_size
        loss = trainer.callback_metrics.get("train/loss")
        eta = (total - step) / rate if rate > 0 and math.isfinite(total) else float("nan")
        print(f"step {step}/{total} epoch {trainer.current_epoch} "
              f"loss {float(loss) if loss is not None else float('nan'):.4f} {samples:.3g} samples/s "
              f"ETA {format_seconds(eta)}", file=self.stream, flush=True)


def format_seconds(seconds: float) -> str:
    """``"1h02m"``, ``"3m05s"`` or ``"42s"``; ``"?"`` when unknown."""
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def load_checkpoint(path: Path) -> dict:
    """A Lightning checkpoint, loaded without running code (``weights_only``); raises ``ValueError`` naming the
    file when it is damaged or is not a training checkpoint."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is a damaged checkpoint, reported by name
        lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
        # torch explains a refused pickle over several lines; the one naming the global is the reason.
        reason = next((line for line in lines if "Unsupported global" in line), lines[0]).split(". Please use")[0]
        raise ValueError(f"checkpoint {path} cannot be read ({type(err).__name__}: {reason})") from err
    missing = {"global_step", "state_dict", "loops", "callbacks"} - set(state if isinstance(state, dict) else {})
    if missing:
        raise ValueError(f"checkpoint {path} is not a training checkpoint (missing {sorted(missing)})")
    return state


def newest_checkpoint(run: Run) -> tuple[Path, dict] | None:
    """The checkpoint of the run with the most optimiser steps (last, interrupted or an epoch's; the newest file
    among equals) and its content; damaged ones are skipped with a warning. None when there is none."""
    candidates = [p for p in (run.checkpoint(Run.LAST_CHECKPOINT), run.checkpoint(Run.INTERRUPTED_CHECKPOINT),
                              *run.epoch_checkpoints()) if p.is_file()]
    best = None
    for path in sorted(candidates, key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            state = load_checkpoint(path)
        except ValueError as err:
            warnings.warn(f"{err}; skipped", stacklevel=2)
            continue
        if best is None or state["global_step"] > best[1]["global_step"]:
            best = (path, state)
    return best


def quiet_lightning() -> None:
    """Drop Lightning's advertising tips, accelerator inventory and deprecation notices of its own internals."""
    noise = ("💡 Tip:", "GPU available:", "TPU available:", "HPU available:")

    class _Noise(logging.Filter):
        def filter(self, record):
            return not str(record.getMessage()).startswith(noise)

    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Noise) for f in logger.filters):
            logger.addFilter(_Noise())
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated")
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    # The frozen teacher runs in eval mode on purpose (DepthModule.train).
    warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode at the start of training")
    # DepthDataModule saves the position inside the epoch and its sampler resumes there, which Lightning cannot see.
    warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch ended")


def build_trainer(cfg: ExperimentConfig, enable_progress_bar: bool = True,
                  extra_callbacks: list[Callback] | None = None, progress_every: int | None = None) -> L.Trainer:
    """The trainer of an experiment; ``progress_every`` prints a progress line every that many steps (used without
    the progress bar)."""
    t = cfg.train
    run = Run.of(cfg)
    csv_logger = ResumableCSVLogger(run.path, name=Run.LOGS, version="")
    callbacks = [EpochCheckpoints(run, t.keep_checkpoints), RandomStateCheckpoint(), MetricsRows(csv_logger),
                 StopSignals(run.checkpoint(Run.INTERRUPTED_CHECKPOINT)), LearningRateMonitor(logging_interval="epoch"),
                 TrainingClock()]
    if enable_progress_bar:
        callbacks.append(TQDMProgressBar(refresh_rate=1))
    elif progress_every:
        callbacks.append(ProgressLines(progress_every))
    callbacks += extra_callbacks or []
    loggers = [TensorBoardLogger(run.path, name=Run.LOGS, version=""), csv_logger]
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


def _find_callback(trainer: L.Trainer, kind: type) -> Callback:
    return next(c for c in trainer.callbacks if isinstance(c, kind))


def train(cfg: ExperimentConfig, fresh: bool = False, enable_progress_bar: bool = True,
          extra_callbacks: list[Callback] | None = None, progress_every: int | None = None) -> Run:
    """Train (or resume) the experiment; returns its run, which holds the checkpoints and, once the training has
    finished, the exported weights and ``run_info.json``.

    ``fresh`` deletes the checkpoints and logs of an earlier run of the same name first. Everything that can be
    refused (the teacher, the data) is checked before the run directory is created; a run that fails before its
    first checkpoint removes the directory it created. SIGINT/SIGTERM raise :class:`TrainingInterrupted` once
    ``interrupted.ckpt`` is written.
    """
    quiet_lightning()
    run = Run.of(cfg)
    check_output_dir(run.path, "train.out_dir")
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    module = DepthModule(cfg)
    data = DepthDataModule(cfg)
    data.setup("fit")
    data.check_size()
    created = not run.path.exists()
    if fresh:
        for stale in (run.checkpoint_dir, run.log_dir):
            shutil.rmtree(stale, ignore_errors=True)
    try:
        return _fit(cfg, run, module, data, enable_progress_bar, extra_callbacks, progress_every)
    except BaseException:
        if created and not any(run.checkpoint_dir.glob("*.ckpt")):
            shutil.rmtree(run.path, ignore_errors=True)
        raise


def _fit(cfg: ExperimentConfig, run: Run, module: DepthModule, data: DepthDataModule, enable_progress_bar: bool,
         extra_callbacks: list[Callback] | None, progress_every: int | None) -> Run:
    run.path.mkdir(parents=True, exist_ok=True)
    for folder in (run.path, run.checkpoint_dir, run.log_dir):
        if folder.is_dir():
            remove_temporary_files(folder)
    prune_epoch_checkpoints(run, cfg.train.keep_checkpoints)
    run.save_experiment(cfg)
    trainer = build_trainer(cfg, enable_progress_bar=enable_progress_bar, extra_callbacks=extra_callbacks,
                            progress_every=progress_every)
    stop = _find_callback(trainer, StopSignals)
    found = newest_checkpoint(run)
    ckpt = None
    if found is not None:
        ckpt, state = found
        rows = state["callbacks"].get(MetricsRows.__qualname__, {}).get("rows")
        if rows is not None and trainer.is_global_zero:
            MetricsRows.trim(run.metrics_csv, rows)
        if trainer.is_global_zero:
            print(f"resuming from {ckpt} (step {state['global_step']})")
        del state
    elif trainer.is_global_zero:
        # No checkpoint: the logs of an earlier attempt that never reached one would be appended to.
        MetricsRows.trim(run.metrics_csv, 0)
    if ckpt is None and cfg.train.init_from:
        module.initialise_from(cfg.train.init_from, cfg.train.init_parts)
    stop.install()
    try:
        trainer.fit(module, datamodule=data, ckpt_path=ckpt, weights_only=True)
    except SIGTERMException:
        raise TrainingInterrupted(stop.received or signal.SIGTERM, stop.saved) from None
    except (SystemExit, KeyboardInterrupt):
        # Lightning ends a KeyboardInterrupt (the second Ctrl-C) with sys.exit(1).
        if stop.received is None:
            raise
        raise TrainingInterrupted(stop.received, stop.saved) from None
    finally:
        stop.uninstall()
    if trainer.is_global_zero:
        run.save_networks(module.depth_net, module.pose_net, cfg.model)
        clock = _find_callback(trainer, TrainingClock)
        run.write_info(describe_device(str(trainer.strategy.root_device)), trainer.global_step, clock.seconds)
        run.checkpoint(Run.INTERRUPTED_CHECKPOINT).unlink(missing_ok=True)
    return run
