"""``tcdepth info``: parameters and GFLOPs per network component at a given resolution."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    parser = subparsers.add_parser("info", help="parameters and GFLOPs per network component",
                                   description="Print the parameters and forward GFLOPs (2 x MACs, one sample) of "
                                               "each component of the model a config describes.")
    parser.add_argument("config", nargs="?", default=None,
                        help="experiment YAML or run directory whose 'model:' section is read (default: the paper's "
                             "model)")
    parser.add_argument("--height", type=int, default=192, help="input height (multiple of 32)")
    parser.add_argument("--width", type=int, default=640, help="input width (multiple of 32)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a model setting, e.g. --set encoder=drn_tiny (repeatable)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tcdepth.config import to_dict
    from tcdepth.experiment import load_model_section
    from tcdepth.models.summary import summarize
    from tcdepth.runs import Run

    if args.config is not None and Run.is_run_dir(args.config):
        cfg = load_model_section(Run(args.config).config_path, args.overrides)
    else:
        cfg = load_model_section(args.config, args.overrides)
    rows = summarize(cfg, args.height, args.width)
    total_params = sum(r.params for r in rows)
    total_gflops = sum(r.gflops for r in rows)
    if args.json:
        print(json.dumps({"model": to_dict(cfg), "height": args.height, "width": args.width,
                          "components": [{"name": r.name, "params": r.params, "gflops": round(r.gflops, 3)}
                                         for r in rows],
                          "total": {"params": total_params, "gflops": round(total_gflops, 3)}}))
        return 0
    print(f"{cfg.architecture} / {cfg.encoder} at {args.height}x{args.width} (one sample, forward)")
    print(f"{'component':<20}{'params (M)':>12}{'GFLOP':>10}")
    for r in rows:
        print(f"{r.name:<20}{r.params / 1e6:>12.2f}{r.gflops:>10.1f}")
    print(f"{'total':<20}{total_params / 1e6:>12.2f}{total_gflops:>10.1f}")
    return 0
