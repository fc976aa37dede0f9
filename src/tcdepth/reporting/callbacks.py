"""Lightning callbacks of the demo (kept apart so that importing :mod:`tcdepth.reporting` stays light)."""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.callbacks import Callback


class StepCounter(Callback):
    """Remembers the trainer's global step and device at the end of fitting (for ``run_info.json``)."""

    def __init__(self):
        self.steps = 0
        self.device = "cpu"

    def on_fit_end(self, trainer, pl_module):
        self.steps = trainer.global_step
        self.device = str(trainer.strategy.root_device)


class PruneEpochCheckpoints(Callback):
    """Deletes the per-epoch checkpoints ``epoch=*.ckpt`` of ``folder`` but the newest at the start of every epoch,
    so that a demo-sized disk holds at most two of them (``last.ckpt``, used to resume, is kept)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.is_global_zero:
            for path in sorted(self.folder.glob("epoch=*.ckpt"), key=lambda p: p.stat().st_mtime)[:-1]:
                path.unlink(missing_ok=True)
