"""``tcdepth results DIR... --out results.md``: a markdown table of evaluations and the runs they come from."""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "results", help="markdown table of evaluation outputs (metrics.json) with each run's device, steps, time",
        description="Rows: method, abs_rel, sq_rel, rmse, a1, TCM 3/5/7 (abs), device, resolution, steps, wall "
                    "time. Each DIR is an evaluation folder (metrics.json of `tcdepth evaluate --out`) or a run "
                    "directory whose subfolders hold evaluations.")
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="evaluation folders or run directories")
    parser.add_argument("--out", help="write the table to this markdown file (default: print it)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from tcdepth.io import atomic_write_text, check_output_file
    from tcdepth.reporting import find_evaluations, load_result, results_markdown

    if args.out:
        check_output_file(args.out, "--out")
    table = results_markdown([load_result(path) for path in find_evaluations(args.dirs)])
    print(table, end="")
    if args.out:
        atomic_write_text(args.out, table)
        print(f"wrote {args.out}")
    return 0
