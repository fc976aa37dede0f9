"""``tcdepth import-weights SRC_DIR RUN_DIR``: a run directory from an official TC-Depth or Monodepth2 checkpoint
folder."""

from __future__ import annotations


def register(subparsers) -> None:
    from tcdepth.models.official import FORMATS

    parser = subparsers.add_parser(
        "import-weights", help="import an official TC-Depth / Monodepth2 checkpoint folder as a run directory",
        description="Read an official checkpoint folder (TC-Depth: encoder.pth, depth.pth, ref_depth.pth, "
                    "spa_temp.pth; Monodepth2: encoder.pth, depth.pth; both optionally pose_encoder.pth and "
                    "pose.pth) and write a run directory that predict, evaluate, export, info and train (as "
                    "train.teacher.path or train.init_from) accept. Files are loaded with torch.load(weights_only="
                    "True); its config selects the reference's behaviour (docs/compat.md).")
    parser.add_argument("src_dir", metavar="SRC_DIR", help="the official checkpoint folder")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the run directory to write (must not exist or be empty)")
    parser.add_argument("--format", choices=(*FORMATS, "auto"), default="auto",
                        help="checkpoint family (default: auto, detected from the file names)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from tcdepth.runs import import_official_run

    run_dir = import_official_run(args.src_dir, args.run_dir, args.format)
    model = run_dir.model_config()
    pose = "with" if run_dir.pose_weights.is_file() else "without"
    print(f"wrote {run_dir.path} ({model.architecture}/{model.encoder}, {pose} pose network, "
          f"{'x'.join(map(str, run_dir.network_size()))})")
    return 0
