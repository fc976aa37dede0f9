"""``tcdepth synth``: render a synthetic driving dataset with exact ground truth."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("synth", help="render a synthetic driving-video dataset with ground truth",
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("out_dir", help="output folder")
    parser.add_argument("--layout", choices=["native", "kitti"], default="native")
    parser.add_argument("--sequences", type=int, default=3, help="number of sequences (drives)")
    parser.add_argument("--frames", type=int, default=60, help="frames per sequence")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flow-range", type=int, default=3,
                        help="K: correspondences to frames t-K..t+K (read by the TCM evaluation only; 0: none)")
    parser.add_argument("--workers", type=int, default=1, help="native layout: sequences rendered in parallel")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per process (rendering bands, correspondences, file writes); default: all "
                             "cores (at most 8) with --workers 1, else 1. The output does not depend on it")
    parser.add_argument("--stereo", action="store_true", help="kitti layout: also render image_03")
    parser.add_argument("--contact-sheet", metavar="PATH", help="also write RGB | depth | moving mask of a few frames")
    parser.set_defaults(func=run)


def run(args) -> int:
    import numpy as np
    from tqdm import tqdm

    from tcdepth.io import check_output_dir, check_output_file, removed_on_error
    from tcdepth.synth import SynthConfig, render_sequence, sequence_seed, write_dataset
    from tcdepth.visualize import colorize_depth, contact_sheet, save_png

    cfg = SynthConfig(width=args.width, height=args.height, frames=args.frames, flow_range=args.flow_range)
    if args.sequences < 1:
        raise ValueError(f"--sequences must be >= 1, got {args.sequences}")
    check_output_dir(args.out_dir, "out_dir")
    if args.contact_sheet:
        check_output_file(args.contact_sheet, "--contact-sheet")
    with removed_on_error(args.out_dir), tqdm(total=args.sequences * args.frames, unit="frame", desc="synth") as bar:
        write_dataset(cfg, args.out_dir, args.sequences, args.seed, args.layout, args.stereo, bar.update,
                      workers=args.workers, threads=args.threads)
    if args.contact_sheet:
        picks = set(np.linspace(0, cfg.frames - 1, 4).round().astype(int).tolist())
        rows = [[f.rgb, colorize_depth(f.depth), f.moving_mask.astype(np.uint8) * 255]
                for f in render_sequence(cfg, sequence_seed(args.seed, 0)) if f.index in picks]
        save_png(args.contact_sheet, contact_sheet(rows, ["RGB", "depth (inverse, magma)", "moving objects"]))
    print(f"wrote {args.sequences} {args.layout} sequence(s) of {args.frames} frames to {args.out_dir}")
    return 0
