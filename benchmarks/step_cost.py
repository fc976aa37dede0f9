"""CPU seconds of one training step (this process, one thread) of an experiment config on real data: data loading,
forward, objective, backward and Adam; one warm-up step, then ``--steps`` timed with ``time.process_time`` (robust
to other work sharing the CPU, unlike wall time). The pose warm-up is off so that every step trains both networks.

    python benchmarks/step_cost.py configs/synthetic_tiny.yaml data.path=DATA train.teacher.path=RUN
"""

from __future__ import annotations

import argparse
import time

import torch

from tcdepth.experiment import load_experiment
from tcdepth.training.data_module import DepthDataModule
from tcdepth.training.module import DepthModule


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cfg = load_experiment(args.config, [*args.overrides, "data.num_workers=0", "train.pose_warmup_steps=0"])
    data = DepthDataModule(cfg)
    data.setup("fit")
    module = DepthModule(cfg).train()
    params = [p for name, p in module.named_parameters() if p.requires_grad and not name.startswith("teacher.")]
    optimizer = torch.optim.Adam(params, lr=cfg.train.learning_rate)
    batches = iter(data.train_dataloader())

    def step() -> None:
        total = module.compute_loss(next(batches))[0]
        optimizer.zero_grad()
        total.backward()
        optimizer.step()

    step()
    start = time.process_time()
    for _ in range(args.steps):
        step()
    print(f"{cfg.model.architecture} {cfg.model.encoder} {cfg.data.height}x{cfg.data.width}: "
          f"{(time.process_time() - start) / args.steps:.2f} CPU s/step")


if __name__ == "__main__":
    main()
