"""``tcdepth export-gt``: write the ground-truth depth file ``gt_depths.npz`` of a KITTI Eigen split."""

from __future__ import annotations

import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export-gt",
        help="export KITTI ground-truth depth maps (gt_depths.npz) for the eigen or eigen_benchmark split",
        description="Write gt_depths.npz (key 'data': one full-resolution float32 depth map per split line). "
                    "eigen: raw Velodyne projected into camera 2; eigen_benchmark: the annotated depth PNGs "
                    "(proj_depth/groundtruth/image_02) of the KITTI depth benchmark.",
    )
    parser.add_argument("--data-path", required=True, help="KITTI raw root (<date>/<date>_drive_NNNN_sync/...)")
    parser.add_argument("--split", required=True, choices=["eigen", "eigen_benchmark"])
    parser.add_argument("--split-file", required=True, help="the split's test_files.txt")
    parser.add_argument("--out", default="gt_depths.npz", help="output file (default: gt_depths.npz)")
    parser.add_argument("--skip-missing", action="store_true",
                        help="report missing inputs and store None for them instead of stopping")
    parser.set_defaults(func=run)


def _show_progress(done: int, total: int) -> None:
    if done == total or done % 25 == 0:
        print(f"\rexport-gt: {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)


def run(args) -> int:
    from tcdepth.evaluation.gt_export import export_gt_depths
    from tcdepth.io import check_output_file

    check_output_file(args.out, "--out")
    missing = export_gt_depths(args.data_path, args.split, args.split_file, args.out,
                               skip_missing=args.skip_missing, progress=_show_progress)
    for item in missing:
        print(f"export-gt: skipped {item}", file=sys.stderr)
    print(f"wrote {args.out}" + (f" ({len(missing)} missing items stored as None)" if missing else ""))
    return 0
