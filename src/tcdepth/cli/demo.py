"""``tcdepth demo``: the main job end to end on built-in synthetic data, with an HTML report."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    from tcdepth.demo import DemoSettings

    defaults = DemoSettings()
    parser = subparsers.add_parser(
        "demo", help="synthetic data -> Monodepth2 baseline -> TC-Depth -> evaluation -> prediction -> report.html",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Generate synthetic driving video, train the single-frame baseline and TC-Depth (tiny, the "
                    "baseline as teacher), evaluate both (abs_rel, a1, TCM), predict the held-out clip and write "
                    "OUT/report.html. Steps whose outputs exist are reused; training resumes from its checkpoint.")
    parser.add_argument("--out", default=str(defaults.out_dir), help="output folder")
    parser.add_argument("--config-dir", default=str(defaults.config_dir),
                        help=f"folder of the experiment configs {defaults.config_dir}/synthetic_tiny*.yaml")
    parser.add_argument("--fresh", action="store_true", help="delete the demo's earlier outputs and start over")
    parser.add_argument("--sequences", type=int, default=defaults.sequences,
                        help="synthetic sequences (the last is held out for testing, the one before for validation)")
    parser.add_argument("--frames", type=int, default=defaults.frames, help="frames per sequence")
    parser.add_argument("--height", type=int, default=defaults.height)
    parser.add_argument("--width", type=int, default=defaults.width)
    parser.add_argument("--baseline-epochs", type=int, default=defaults.baseline_epochs)
    parser.add_argument("--tcdepth-epochs", type=int, default=defaults.tcdepth_epochs)
    parser.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from tcdepth.demo import Demo, DemoSettings

    settings = DemoSettings(out_dir=Path(args.out), config_dir=Path(args.config_dir), sequences=args.sequences,
                            frames=args.frames, height=args.height, width=args.width,
                            baseline_epochs=args.baseline_epochs, tcdepth_epochs=args.tcdepth_epochs)
    Demo(settings).run(fresh=args.fresh)
    return 0
