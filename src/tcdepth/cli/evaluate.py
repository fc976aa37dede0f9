"""``tcdepth evaluate``: depth accuracy (KITTI Eigen protocol), TCM and flicker of a trained model or of external
predictions, with optional test-time refinement."""

from __future__ import annotations

import sys


def add_data_arguments(parser) -> None:
    """Arguments shared by ``evaluate`` and ``refine``: what to evaluate on and how."""
    parser.add_argument("model", nargs="?", help="run directory (config.yaml, depth.safetensors, pose.safetensors) "
                                                 "or a depth weights file")
    parser.add_argument("--data", required=True, choices=["synthetic", "kitti"])
    parser.add_argument("--data-path", required=True, help="synthetic root (native layout) or KITTI raw root")
    parser.add_argument("--split-file", help="test split (default for synthetic: <data-path>/splits/test_files.txt)")
    parser.add_argument("--gt", help="gt_depths.npz (tcdepth export-gt); default: read the ground truth per frame")
    parser.add_argument("--out", help="output folder for metrics.json, per_image.csv, tcm_<w>.csv, table.txt")
    parser.add_argument("--tcm", nargs="+", type=int, default=[], metavar="W", help="TCM windows (3, 5, 7)")
    parser.add_argument("--tcm-gt", help="KITTI: folder of TCM snippets written by `tcdepth make-tcm-gt`")
    parser.add_argument("--flicker", action="store_true", help="also report the GT-free flicker measure "
                                                               "(implied by --tcm)")
    parser.add_argument("--poses-dir", help="KITTI: per-drive camera-0 poses for flicker with ground-truth motion")
    parser.add_argument("--post-process", action="store_true", help="Monodepth2 flip post-processing")
    parser.add_argument("--no-median-scaling", action="store_true", help="no per-image median scaling")
    parser.add_argument("--scale-factor", type=float, default=1.0, help="fixed depth factor (stereo: 5.4)")
    parser.add_argument("--min-depth", type=float, default=1e-3)
    parser.add_argument("--max-depth", type=float, default=80.0, help="depth cap of the mask and clamp (m)")
    parser.add_argument("--crop", default="garg", choices=["garg", "eigen", "none"])
    parser.add_argument("--height", type=int, help="network input height (default: the run's data.height)")
    parser.add_argument("--width", type=int, help="network input width (default: the run's data.width)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip (and report) items with missing files or unusable ground truth")


def add_refine_arguments(parser) -> None:
    parser.add_argument("--ttr-steps", type=int, default=20, help="refinement steps per sequence")
    parser.add_argument("--ttr-lr", type=float, default=1e-5, help="refinement learning rate")
    parser.add_argument("--ttr-update", default="encoders", choices=["encoders", "all"],
                        help="parameters updated: depth and pose encoders, or all depth and pose parameters")
    parser.add_argument("--ttr-batch-size", type=int, default=4)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="evaluate depth accuracy (KITTI Eigen protocol), TCM and flicker",
        description="Predict every test frame with its own triplet and report the Eigen metrics (table row, "
                    "metrics.json, per_image.csv), the TCM for --tcm windows and the flicker measure.")
    add_data_arguments(parser)
    parser.add_argument("--pred-npz", help="evaluate external scaled disparities ([N,h,w] .npy, or .npz with key "
                                           "'data'/'disp', in split order) instead of a model")
    parser.add_argument("--ttr", action="store_true", help="test-time refinement per sequence before predicting")
    add_refine_arguments(parser)
    parser.set_defaults(func=run)


def evaluate_options(args, refine: bool):
    from tcdepth.evaluation.refine import RefineConfig
    from tcdepth.evaluation.runner import EvaluateOptions
    from tcdepth.metrics import EigenOptions

    eigen = EigenOptions(min_depth=args.min_depth, max_depth=args.max_depth, crop=args.crop,
                         median_scaling=not args.no_median_scaling, scale_factor=args.scale_factor)
    refine_cfg = RefineConfig(steps=args.ttr_steps, learning_rate=args.ttr_lr, update=args.ttr_update,
                              batch_size=args.ttr_batch_size) if refine else None
    return EvaluateOptions(data=args.data, data_path=args.data_path, split_file=args.split_file, gt_path=args.gt,
                           eigen=eigen, post_process=args.post_process, tcm_windows=list(args.tcm),
                           tcm_gt_dir=args.tcm_gt, flicker=args.flicker or bool(args.tcm), poses_dir=args.poses_dir,
                           refine=refine_cfg, skip_bad=args.skip_bad)


def print_report(report, label: str = "") -> None:
    """The report's summary on stdout, the items it skipped on stderr."""
    for name, reason in report.eigen.skipped:
        print(f"  skipped {name}: {reason}", file=sys.stderr)
    print(report.summary(label))


def run(args) -> int:
    from tcdepth.evaluation.runner import evaluate
    from tcdepth.io import check_output_dir, removed_on_error
    from tcdepth.runs import load_trained_model

    if (args.model is None) == (args.pred_npz is None):
        raise ValueError("give either a model (run directory or weights file) or --pred-npz, not both")
    if args.out:
        check_output_dir(args.out, "--out")
    options = evaluate_options(args, refine=args.ttr)
    model = load_trained_model(args.model, args.height, args.width, args.device) if args.model else None
    report = evaluate(options, model, args.pred_npz, args.device)
    print_report(report)
    if args.out:
        with removed_on_error(args.out):
            report.write(args.out)
        print(f"wrote {args.out}/metrics.json, per_image.csv, table.txt")
    return 0
