"""``tcdepth train CONFIG [section.key=value ...]``: train or resume an experiment."""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="self-supervised training (resumes the run directory when it holds a checkpoint)",
        description="Train TC-Depth or the Monodepth2 baseline from a YAML experiment config. Overrides take the "
                    "form section.key=value, e.g. train.epochs=2 data.path=/data/kitti train.precision=bf16-mixed.")
    parser.add_argument("config", help="experiment YAML (see configs/)")
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides")
    parser.add_argument("--fresh", action="store_true", help="delete the run's checkpoints and logs and start over")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar: a line (step, loss, samples/s, ETA) every train.log_every_steps steps")
    parser.set_defaults(func=run)


def run(args) -> int:
    import sys

    from tcdepth.experiment import load_experiment
    from tcdepth.training.engine import TrainingInterrupted, train

    cfg = load_experiment(args.config, args.overrides)
    try:
        run = train(cfg, fresh=args.fresh, enable_progress_bar=not args.no_progress,
                    progress_every=cfg.train.log_every_steps)
    except TrainingInterrupted as stop:
        print(f"tcdepth train: {stop}", file=sys.stderr)
        return stop.exit_code
    print(f"run directory: {run.path}")
    return 0
