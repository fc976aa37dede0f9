"""``tcdepth export --onnx CHECKPOINT OUT.onnx``: the depth network as ONNX (dynamic batch axis)."""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="export a depth checkpoint to ONNX",
        description="Export the TC-Depth triplet model (inputs frames [B,3,3,H,W], K [B,3,3]) or the Monodepth2 "
                    "single-frame model (input image [B,3,H,W]); outputs disp and depth [B,1,H,W] of the centre "
                    "frame. See docs/inference.md for running it with onnxruntime.")
    parser.add_argument("--onnx", nargs=2, metavar=("CHECKPOINT", "OUT_ONNX"), required=True,
                        help="depth.safetensors (or a run directory) and the output .onnx file")
    parser.add_argument("--height", type=int, default=None, help="input height (default: run config or 192)")
    parser.add_argument("--width", type=int, default=None, help="input width (default: run config or 640)")
    parser.set_defaults(func=run)


def run(args) -> int:

    from tcdepth.inference.onnx_export import export_onnx
    from tcdepth.io import check_output_file
    from tcdepth.runs import load_trained_model

    out = check_output_file(args.onnx[1], "OUT_ONNX")
    model = load_trained_model(args.onnx[0], args.height, args.width)
    height, width = model.height, model.width
    names = export_onnx(model.depth_net, model.model_config, out, height, width)
    print(f"wrote {out} (inputs {', '.join(names)}; outputs disp, depth; {height}x{width}, dynamic batch)")
    return 0
