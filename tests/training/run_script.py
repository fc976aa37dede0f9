"""Runs a tiny training in its own process (interrupt and DDP tests; Lightning exits or spawns processes).

Usage: python run_script.py ROOT OUT_DIR NAME MODE [override ...]; MODE is ``plain``, ``interrupt-at-N`` (send
this process SIGINT after optimiser step N, as Ctrl-C would), ``terminate-at-N`` (SIGTERM, as a scheduler would) or
``ddp`` (two CPU processes; every rank saves its final parameters, not its buffers, to ``OUT_DIR/NAME/rank<r>.pt``).
The exit code is the one ``tcdepth train`` gives.
"""

import os
import signal
import sys
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from tcdepth.experiment import load_experiment
from tcdepth.training.engine import TrainingInterrupted, train

sys.path.insert(0, str(Path(__file__).parent))
from conftest import tiny_overrides  # noqa: E402

CONFIG = Path(__file__).parents[2] / "configs" / "synthetic_tiny.yaml"


class SignalAt(Callback):
    def __init__(self, step: int, signum: int):
        self.step = step
        self.signum = signum

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


class SaveRankParameters(Callback):
    def __init__(self, folder: Path):
        self.folder = folder

    def on_train_end(self, trainer, pl_module):
        # Buffers are left out: DDP copies rank 0's batch-norm statistics to every rank at the start of each forward,
        # so after the last step each rank holds the statistics of its own last batch until the next forward.
        state = {k: v.detach().clone() for k, v in pl_module.named_parameters()}
        torch.save(state, self.folder / f"rank{trainer.global_rank}.pt")


def main() -> None:
    root, out_dir, name, mode, *extra = sys.argv[1:]
    cfg = load_experiment(CONFIG, tiny_overrides(Path(root), Path(out_dir), name) + extra)
    callbacks = []
    if mode.startswith(("interrupt-at-", "terminate-at-")):
        signum = signal.SIGINT if mode.startswith("interrupt") else signal.SIGTERM
        callbacks.append(SignalAt(int(mode.rsplit("-", 1)[1]), signum))
    elif mode == "ddp":
        cfg = load_experiment(CONFIG, tiny_overrides(Path(root), Path(out_dir), name) + extra +
                              ["train.devices=2", "train.accelerator=cpu"])
        (Path(out_dir) / name).mkdir(parents=True, exist_ok=True)
        callbacks.append(SaveRankParameters(Path(out_dir) / name))
    try:
        train(cfg, enable_progress_bar=False, extra_callbacks=callbacks)
    except TrainingInterrupted as stop:
        print(stop)
        sys.exit(stop.exit_code)


if __name__ == "__main__":
    main()
