"""The held-out synthetic benchmark: TC-Depth vs the Monodepth2 baseline and the paper's ablations, one command.

    python benchmarks/synthetic_benchmark.py OUT --device cuda --steps 400

1. Renders a training set and a held-out test set (fixed seeds; moving cars and static segments in every sequence).
2. Trains the Monodepth2 baseline, which then serves as the frozen teacher and the warm start (depth encoder, decoder
   stages, pose network: ``train.init_parts`` of configs/synthetic_tiny.yaml) of every TC-Depth variant.
3. Trains TC-Depth and the ablations (no spatial attention, no temporal attention, no geometric loss, no cycle mask,
   no motion loss) with the same data, resolution, batch and number of steps, and ``monodepth2_continued``: the
   baseline trained on from its own weights for as many steps as TC-Depth (the same training as the warm-started
   TC-Depth has had in all).
4. Evaluates every run on the held-out set: abs_rel, sq_rel, rmse, a1 and the TCM for 3, 5 and 7 frames.

Each run directory receives ``run_info.json`` (device, steps, wall time of the training); the evaluations go to
``OUT/eval/<variant>/``. ``tcdepth results OUT/eval/* --out results.md`` turns them into the table of
docs/results.md. Variants are trained in the order given and the driver stops starting new ones once
``--time-budget`` seconds have passed, so a bounded session still returns complete rows. Every step is a ``tcdepth``
command, printed before it runs.

``--demo-budget`` trains and evaluates at the budget of ``tcdepth demo`` instead: its data (rendered into
``OUT/demo/data`` as the demo renders it), its configs and epochs, its evaluation (held-out test sequence, Eigen with
the Garg crop, TCM 3/5/7); ``--steps``, ``--batch``, the sizes and the sequence counts then do not apply.
``--seeds N`` trains the baseline, TC-Depth and the control with ``train.seed`` 0..N-1 (runs ``<name>_seed<k>`` for
k > 0; TC-Depth of seed k has the baseline of seed k as teacher and warm start, the control of seed k trains that
baseline on), ``--ablation-seeds M`` the ablations with seeds 0..M-1 (default: seed 0 only); ``tcdepth results``
then adds the mean and spread over the seeds:

    python benchmarks/synthetic_benchmark.py OUT --demo-budget --seeds 3
    tcdepth results OUT/eval/*
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

import torch

from tcdepth.demo import DemoSettings
from tcdepth.runs import Run

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"

# variant -> overrides on top of configs/synthetic_tiny.yaml
VARIANTS = {
    "tcdepth": [],
    "no_motion_loss": ["loss.use_motion_loss=false", "train.teacher.mode=none"],
    "no_geometric_loss": ["loss.use_geometric=false"],
    "no_cycle_mask": ["loss.use_cycle_mask=false"],
    "no_spatial_attention": ["model.use_spatial=false"],
    "no_temporal_attention": ["model.use_temporal=false"],
}


def tcdepth(*args: str) -> None:
    command = [sys.executable, "-m", "tcdepth.cli.main", *map(str, args)]
    print("$ tcdepth " + " ".join(map(str, args)), flush=True)
    subprocess.run(command, check=True)


def count_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def make_data(out: Path, args) -> tuple[Path, Path, Path]:
    train_root, test_root = out / "data" / "train", out / "data" / "test"
    common = ["--frames", args.frames, "--width", args.width, "--height", args.height, "--workers", args.workers]
    if not (train_root / "splits" / "train_files.txt").is_file():
        tcdepth("synth", train_root, "--sequences", args.train_sequences + 2, "--seed", 100, "--flow-range", 1,
                *common)
    if not (test_root / "splits" / "test_files.txt").is_file():
        tcdepth("synth", test_root, "--sequences", args.test_sequences, "--seed", 200, "--flow-range", 3, *common)
    all_test = test_root / "splits" / "all_files.txt"
    all_test.write_text("".join((test_root / "splits" / f"{s}_files.txt").read_text()
                                for s in ("train", "val", "test")))
    return train_root, test_root, all_test


def schedule(train_root: Path, args) -> list[str]:
    """Overrides giving ``args.steps`` optimiser steps: epochs, LR decay at 3/4, motion loss for the first 2/3."""
    per_epoch = count_lines(train_root / "splits" / "train_files.txt") // args.batch
    epochs = max(1, math.ceil(args.steps / per_epoch))
    return [f"data.path={train_root}", f"data.height={args.height}", f"data.width={args.width}",
            f"data.num_workers={args.loader_workers}", f"train.batch_size={args.batch}", f"train.epochs={epochs}",
            f"train.max_steps={args.steps}", f"train.milestones=[{max(1, round(0.75 * epochs))}]",
            f"loss.motion_epochs=[0, {max(0, round(2 * epochs / 3) - 1)}]",
            f"train.accelerator={'gpu' if args.device.startswith('cuda') else 'cpu'}",
            f"train.precision={args.precision}", "train.log_every_steps=10", "train.image_every_steps=100000"]


def train_run(config: Path, name: str, overrides: list[str], out: Path) -> Run:
    run = Run(out / "runs" / name)
    if not run.has_weights():
        tcdepth("train", config, f"name={name}", f"train.out_dir={out / 'runs'}", "--no-progress", *overrides)
    return run


def evaluate(run: Run, test_root: Path, split: Path | None, out: Path, args) -> None:
    """Eigen and TCM 3/5/7 on ``split`` (no crop), or with ``split=None`` on the data's test split by the demo's
    protocol (Garg crop)."""
    target = out / "eval" / run.path.name
    if not (target / "metrics.json").is_file():
        protocol = ["--crop", "none", "--split-file", split] if split is not None else []
        tcdepth("evaluate", run.path, "--data", "synthetic", "--data-path", test_root, *protocol, "--tcm", 3, 5, 7,
                "--device", args.device, "--out", target)


def seeded(name: str, seed: int) -> str:
    """Run name of ``seed`` (``tcdepth results`` groups ``<name>_seed<k>`` with ``<name>``)."""
    return name if seed == 0 else f"{name}_seed{seed}"


def demo_budget(out: Path) -> tuple[Path, list[str], list[str]]:
    """The demo's data (rendered when missing) and its training overrides for the baseline and TC-Depth."""
    from tcdepth.demo import Demo

    settings = DemoSettings(out_dir=out / "demo", config_dir=CONFIGS)
    demo = Demo(settings)
    if not demo.data_complete():
        print(f"$ {demo.data_command()}", flush=True)
        demo.make_data()

    def overrides(epochs: int) -> list[str]:  # the runs go to OUT/runs (train_run), not to the demo's folder
        return [o for o in settings.train_overrides(epochs) if not o.startswith("train.out_dir=")]

    return settings.data_dir, overrides(settings.baseline_epochs), overrides(settings.tcdepth_epochs)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--height", type=int, default=96)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--train-sequences", type=int, default=6)
    parser.add_argument("--test-sequences", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4, help="rendering processes")
    parser.add_argument("--loader-workers", type=int, default=4)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--time-budget", type=float, default=float("inf"),
                        help="seconds after which no new run is started")
    parser.add_argument("--seeds", type=int, default=1,
                        help="seeds of the baseline, of TC-Depth and of the baseline trained on (the control)")
    parser.add_argument("--ablation-seeds", type=int, default=1, help="seeds of each ablation")
    parser.add_argument("--demo-budget", action="store_true",
                        help="the data, configs, epochs and evaluation of `tcdepth demo` (see above)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.demo_budget:
        test_root, baseline_overrides, tcdepth_overrides = demo_budget(args.out)
        split = None
    else:
        train_root, test_root, split = make_data(args.out, args)
        baseline_overrides = tcdepth_overrides = schedule(train_root, args)

    def baseline(seed: int) -> Path:
        return args.out / "runs" / seeded("monodepth2", seed)

    def student(seed: int) -> list[str]:
        """Teacher and warm start of a TC-Depth run of ``seed``: the baseline of that seed."""
        return DemoSettings.student_overrides(baseline(seed)) + [f"train.seed={seed}"]

    runs = []  # (config, name, overrides), in training order
    for seed in range(args.seeds):
        runs.append(("synthetic_tiny_monodepth2.yaml", seeded("monodepth2", seed),
                     baseline_overrides + [f"train.seed={seed}"]))
        runs.append(("synthetic_tiny.yaml", seeded("tcdepth", seed), tcdepth_overrides + student(seed)))
    # The control of the warm start: each baseline trained on from itself for TC-Depth's epochs, so that both have
    # had the same training when they are compared.
    runs += [("synthetic_tiny_monodepth2.yaml", seeded("monodepth2_continued", seed),
              [*tcdepth_overrides, f"train.init_from={baseline(seed)}",
               "train.pose_warmup_steps=0", f"train.seed={seed}"])
             for seed in range(args.seeds)]
    runs += [("synthetic_tiny.yaml", seeded(variant, seed), tcdepth_overrides + student(seed) + VARIANTS[variant])
             for seed in range(args.ablation_seeds) for variant in args.variants if variant != "tcdepth"]
    for config, name, overrides in runs:
        if time.perf_counter() - start > args.time_budget:
            print(f"time budget of {args.time_budget:.0f} s reached: {name} and later runs not trained")
            break
        run = train_run(CONFIGS / config, name, overrides, args.out)
        evaluate(run, test_root, split, args.out, args)
    print(f"done in {time.perf_counter() - start:.0f} s; evaluations in {args.out / 'eval'}")


if __name__ == "__main__":
    main()
