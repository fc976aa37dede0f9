"""``tcdepth results DIR... --out results.md``: a markdown table of evaluations and the runs they come from."""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "results", help="markdown table of evaluation outputs (metrics.json) with each run's device, steps, time",
        description="Rows: method, abs_rel, sq_rel, rmse, a1, TCM 3/5/7 (abs), device, resolution, steps, wall "
                    "time. Each DIR is an evaluation folder (metrics.json of `tcdepth evaluate --out`) or a run "
                    "directory whose subfolders hold evaluations. When runs differ only by a _seed<k> suffix, a "
                    "second table gives each metric's mean and spread over the seeds.")
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="evaluation folders or run directories")
    parser.add_argument("--out", help="write the table to this markdown file (default: print it)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from tcdepth.io import atomic_write_text, check_output_file
    from tcdepth.reporting import find_evaluations, load_result, results_markdown, seed_groups, seed_summary_markdown

    if args.out:
        check_output_file(args.out, "--out")
    rows = [load_result(path) for path in find_evaluations(args.dirs)]
    table = results_markdown(rows)
    if any(len(group) > 1 for group in seed_groups(rows).values()):
        table += "\nMean ± sample standard deviation over the seeds (runs named <name>_seed<k>):\n\n"
        table += seed_summary_markdown(rows)
    print(table, end="")
    if args.out:
        atomic_write_text(args.out, table)
        print(f"wrote {args.out}")
    return 0
