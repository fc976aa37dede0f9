"""``tcdepth refine``: measure test-time refinement: evaluate a run without and with per-sequence refinement."""

from __future__ import annotations

import json
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "refine", help="evaluate a run without and with test-time refinement and report the change",
        description="Runs `tcdepth evaluate` twice on the same data, plain and with per-sequence test-time "
                    "refinement (weights restored after every sequence), and prints the change of abs_rel, "
                    "a1 and the TCM. Needs a run directory with pose.safetensors.")
    from tcdepth.cli.evaluate import add_data_arguments, add_refine_arguments

    add_data_arguments(parser)
    add_refine_arguments(parser)
    parser.set_defaults(func=run)


def compare(before, after) -> dict:
    """Metric -> ``{"before", "after", "change"}`` for abs_rel, a1 and every TCM window's ``abs``."""
    pairs = {"abs_rel": (before.eigen.mean["abs_rel"], after.eigen.mean["abs_rel"]),
             "a1": (before.eigen.mean["a1"], after.eigen.mean["a1"])}
    for window in before.tcm:
        pairs[f"tcm{window}_abs"] = (before.tcm[window].mean["abs"], after.tcm[window].mean["abs"])
    return {name: {"before": b, "after": a, "change": a - b} for name, (b, a) in pairs.items()}


def run(args) -> int:
    from tcdepth.cli.evaluate import evaluate_options, print_report
    from tcdepth.evaluation.runner import evaluate
    from tcdepth.io import atomic_write_text, check_output_dir, removed_on_error
    from tcdepth.runs import load_trained_model

    if args.model is None:
        raise ValueError("refine needs a run directory (with depth.safetensors and pose.safetensors)")
    if args.out:
        check_output_dir(args.out, "--out")
    model = load_trained_model(args.model, args.height, args.width, args.device)
    before = evaluate(evaluate_options(args, refine=False), model, device=args.device)
    after = evaluate(evaluate_options(args, refine=True), model, device=args.device)
    print_report(before, "without refinement: ")
    print_report(after, "with refinement: ")
    changes = compare(before, after)
    for name, values in changes.items():
        print(f" {name}: {values['before']:.4f} -> {values['after']:.4f} ({values['change']:+.4f})")
    if args.out:
        out = Path(args.out)
        with removed_on_error(out):
            before.write(out / "plain")
            after.write(out / "refined")
            atomic_write_text(out / "refine_comparison.json", json.dumps(changes, indent=2) + "\n")
        print(f"wrote {out}/plain, {out}/refined, {out}/refine_comparison.json")
    return 0
