"""Runs a tiny training in its own process (interrupt and DDP tests; Lightning exits or spawns processes).

Usage: python run_script.py ROOT OUT_DIR NAME MODE [override ...]; MODE is ``plain``, ``interrupt-at-N`` (raise
KeyboardInterrupt after optimiser step N, as Ctrl-C would) or ``ddp`` (two CPU processes; every rank saves its final
parameters to ``OUT_DIR/NAME/rank<r>.pt``).
"""

import sys
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from tcdepth.experiment import load_experiment
from tcdepth.training.engine import train

sys.path.insert(0, str(Path(__file__).parent))
from conftest import tiny_overrides  # noqa: E402

CONFIG = Path(__file__).parents[2] / "configs" / "synthetic_tiny.yaml"


class InterruptAt(Callback):
    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == self.step:
            raise KeyboardInterrupt


class SaveRankParameters(Callback):
    def __init__(self, folder: Path):
        self.folder = folder

    def on_train_end(self, trainer, pl_module):
        state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}
        torch.save(state, self.folder / f"rank{trainer.global_rank}.pt")


def main() -> None:
    root, out_dir, name, mode, *extra = sys.argv[1:]
    cfg = load_experiment(CONFIG, tiny_overrides(Path(root), Path(out_dir), name) + extra)
    callbacks = []
    if mode.startswith("interrupt-at-"):
        callbacks.append(InterruptAt(int(mode.rsplit("-", 1)[1])))
    elif mode == "ddp":
        cfg = load_experiment(CONFIG, tiny_overrides(Path(root), Path(out_dir), name) + extra +
                              ["train.devices=2", "train.accelerator=cpu"])
        (Path(out_dir) / name).mkdir(parents=True, exist_ok=True)
        callbacks.append(SaveRankParameters(Path(out_dir) / name))
    train(cfg, enable_progress_bar=False, extra_callbacks=callbacks)


if __name__ == "__main__":
    main()
