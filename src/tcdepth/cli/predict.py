"""``tcdepth predict CHECKPOINT INPUT --out DIR``: depth of a video, a frame folder or a glob."""

from __future__ import annotations

import sys

from tcdepth.inference.clip import DEFAULT_SCALE_FRAMES

DEFAULT_MAX_PIXELS = 4_000_000  # a 2.3k x 1.7k frame: ~60 MB per binary PLY, ~0.5 GB of float maps in memory


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", help="depth of a video (mp4, frame folder or glob): PNG16/npz/colour PNGs, mp4, PLY clouds",
        description="Predict depth for every frame of INPUT with a depth checkpoint (depth.safetensors) or a run "
                    "directory (depth.safetensors, pose.safetensors for the fused cloud). Without an output flag "
                    "--png16 and --color are written.")
    parser.add_argument("checkpoint", help="depth.safetensors or a run directory")
    parser.add_argument("input", help="video file, folder of png/jpg frames, or a quoted glob such as 'f/*.jpg'")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--intrinsics", help="intrinsics YAML (fx, fy, cx, cy, width, height); default: a centred "
                                             "camera with --fov")
    parser.add_argument("--fov", type=float, default=None, help="horizontal field of view in degrees when no "
                                                               "intrinsics file is given (default 60)")
    outputs = parser.add_argument_group("outputs")
    outputs.add_argument("--png16", action="store_true",
                         help="16-bit PNG depth: metres x 256 (KITTI) with --scale or --camera-height, else relative "
                              "depth scaled per frame to the 16-bit range; factors in depth_png16/scale.json")
    outputs.add_argument("--npz", action="store_true", help="float32 depth, K, scale and pose per frame")
    outputs.add_argument("--color", action="store_true", help="magma colour-mapped inverse depth PNGs")
    outputs.add_argument("--video", action="store_true", help="mp4 with each frame beside its depth")
    outputs.add_argument("--ply", action="store_true", help="coloured point cloud per frame")
    outputs.add_argument("--fused-ply", action="store_true", help="one cloud of the clip placed with the "
                                                                 "predicted poses (needs pose.safetensors)")
    outputs.add_argument("--ply-ascii", action="store_true", help="ascii PLY instead of binary")
    outputs.add_argument("--ply-step", type=int, default=1, help="keep every n-th pixel in per-frame clouds")
    outputs.add_argument("--fused-step", type=int, default=4, help="keep every n-th pixel in the fused cloud")
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--scale", type=float, help="multiply the relative depth by this factor (to metres)")
    scale.add_argument("--camera-height", type=float, help="camera height above the ground in metres: scale so "
                                                           "that the fitted ground plane lies this far below")
    parser.add_argument("--scale-frames", type=int, default=DEFAULT_SCALE_FRAMES,
                        help="frames whose median ground-plane scale is used with --camera-height")
    parser.add_argument("--stride", type=int, default=1, help="use every n-th frame of the input")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--end-mode", choices=("mirror", "duplicate", "drop"), default="mirror",
                        help="neighbours of the first/last frame (see docs/inference.md)")
    parser.add_argument("--height", type=int, default=None, help="network input height (default: run config or 192)")
    parser.add_argument("--width", type=int, default=None, help="network input width (default: run config or 640)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32")
    parser.add_argument("--cuda-graphs", action="store_true", help="replay the per-frame network calls as CUDA "
                        "graphs (CUDA devices; several times faster at batch 1)")
    parser.add_argument("--batch-size", type=int, default=1, help="frames per network call: 1 streams with one "
                        "frame of latency; more runs the clip offline in batches (same depth, more throughput on "
                        "a GPU)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help="larger frames are downscaled to this many pixels (outputs at that size)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args) -> int:
    import logging

    from tqdm import tqdm

    from tcdepth.data.intrinsics import load_intrinsics
    from tcdepth.inference import Predictor
    from tcdepth.inference.clip import predict_clip
    from tcdepth.inference.predictor import DEFAULT_HORIZONTAL_FOV_DEG
    from tcdepth.inference.sources import (
        count_source_frames,
        iter_source_frames,
        limit_pixels,
        select_frames,
        source_fps,
    )
    from tcdepth.inference.writers import ClipWriter, OutputSelection
    from tcdepth.io import check_output_dir, removed_on_error

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if args.scale is not None and args.scale <= 0:
        raise ValueError(f"--scale must be positive, got {args.scale}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.scale_frames < 1:
        raise ValueError(f"--scale-frames must be >= 1, got {args.scale_frames}")
    if args.max_pixels < 1:
        raise ValueError(f"--max-pixels must be positive, got {args.max_pixels}")
    check_output_dir(args.out, "--out")
    selection = OutputSelection(png16=args.png16, npz=args.npz, color=args.color, video=args.video, ply=args.ply,
                                fused_ply=args.fused_ply, ply_binary=not args.ply_ascii, ply_step=args.ply_step,
                                fused_step=args.fused_step, fps=source_fps(args.input) / args.stride)
    if not selection.any():
        selection.png16 = selection.color = True
    intrinsics = load_intrinsics(args.intrinsics) if args.intrinsics else None
    predictor = Predictor.from_checkpoint(args.checkpoint, device=args.device, precision=args.precision,
                                          height=args.height, width=args.width, end_mode=args.end_mode,
                                          scale=args.scale or 1.0, cuda_graphs=args.cuda_graphs,
                                          intrinsics=intrinsics, fov=args.fov or DEFAULT_HORIZONTAL_FOV_DEG)
    if selection.fused_ply and predictor.pose_net is None:
        raise ValueError(f"--fused-ply needs camera poses: {args.checkpoint} is not a run directory holding a pose "
                         "network")
    metric = args.scale is not None or args.camera_height is not None
    if not metric:
        print("note: the model predicts depth up to scale; outputs are relative depth (network units). Give "
              "--scale or --camera-height for metres.", file=sys.stderr)
    total = count_source_frames(args.input)
    if total is not None:
        total = -(-total // args.stride)
        total = min(total, args.max_frames) if args.max_frames else total
    elif args.max_frames:
        total = args.max_frames

    def notice(message: str) -> None:
        print(f"note: {message}", file=sys.stderr)

    selected = select_frames(iter_source_frames(args.input), args.stride, args.max_frames)
    frames = limit_pixels((frame for _, frame in selected), args.max_pixels, notice)
    progress = tqdm(frames, total=total, unit="frame", disable=args.no_progress, file=sys.stderr, desc="predict")
    with removed_on_error(args.out), ClipWriter(args.out, selection, metric) as writer:
        written = predict_clip(predictor, progress, writer, args.camera_height, args.scale_frames, args.batch_size)
        if written == 0:
            raise ValueError(f"{args.input}: no frame was predicted")
    if args.camera_height is not None:
        print(f"scale from camera height {args.camera_height} m: {predictor.scale:.4g}", file=sys.stderr)
    print(f"wrote {written} frame(s) to {args.out}")
    return 0
