"""``tcdepth make-tcm-gt``: TCM ground-truth snippets (one ``.npz`` each) from KITTI raw and per-drive poses."""

from __future__ import annotations

import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "make-tcm-gt", help="write TCM ground-truth snippets for a KITTI split (e.g. the authors' tcm_test_files)",
        description="For every split line, the target Velodyne depth, the densified source depths, the camera-2 "
                    "motions and the correspondences of a --window snippet, as <out>/<date>_<drive>_<frame>.npz "
                    "(layout in docs/evaluation.md). Poses: the odometry <seq>.txt of the three TCM drives, or "
                    "<drive>.txt (as `tcdepth synth --layout kitti` writes) in --poses-dir.")
    parser.add_argument("--data-path", required=True, help="KITTI raw root")
    parser.add_argument("--poses-dir", required=True, help="folder of camera-0-to-world pose files (12 numbers a line)")
    parser.add_argument("--split-file", required=True, help="e.g. splits/tcm/tcm_test_files.txt")
    parser.add_argument("--window", type=int, default=3, choices=[3, 5, 7],
                        help="frames per snippet; a 7-frame snippet serves --tcm 3 5 7")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--method", default="linear", choices=["linear", "nearest"],
                        help="densification of the source LiDAR (scipy griddata)")
    parser.add_argument("--skip-bad", action="store_true", help="report and skip lines whose files are missing")
    parser.set_defaults(func=run)


def pose_file(poses_dir: Path, folder: str) -> Path:
    """The pose file of a ``<date>/<drive>`` folder: its odometry sequence's, else ``<drive without _sync>.txt``."""
    from tcdepth.data.kitti import ODOMETRY_SEQUENCES

    candidates = [poses_dir / f"{folder.split('/')[1].removesuffix('_sync')}.txt"]
    if folder in ODOMETRY_SEQUENCES:
        candidates.insert(0, poses_dir / f"{ODOMETRY_SEQUENCES[folder]}.txt")
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"no pose file for {folder} in {poses_dir} (looked for "
                            f"{', '.join(p.name for p in candidates)})")


def run(args) -> int:
    from tcdepth.data.kitti import read_odometry_poses
    from tcdepth.data.splits import read_kitti_split
    from tcdepth.evaluation.tcm_gt import kitti_tcm_snippet, save_snippet
    from tcdepth.io import check_output_dir

    poses_dir, out = Path(args.poses_dir), check_output_dir(args.out, "--out")
    if not poses_dir.is_dir():
        raise FileNotFoundError(f"poses folder {poses_dir} does not exist")
    entries = read_kitti_split(args.split_file)
    poses: dict[str, object] = {}
    written, skipped = 0, []
    for number, entry in enumerate(entries, start=1):
        try:
            if entry.side != "l":
                raise ValueError("TCM ground truth exists for the left camera (image_02) only")
            if entry.folder not in poses:
                poses[entry.folder] = read_odometry_poses(pose_file(poses_dir, entry.folder))
            snippet = kitti_tcm_snippet(args.data_path, entry.folder, entry.frame, poses[entry.folder],
                                        args.window, args.method)
        except (FileNotFoundError, ValueError) as err:
            message = f"{args.split_file}:{number} ({entry.folder} {entry.frame}): {err}"
            if not args.skip_bad:
                raise type(err)(message) from err
            skipped.append(message)
            continue
        save_snippet(snippet, out / f"{entry.folder.replace('/', '_')}_{entry.frame:010d}.npz")
        written += 1
    for message in skipped:
        print(f"make-tcm-gt: skipped {message}", file=sys.stderr)
    print(f"wrote {written} snippet(s) to {out}" + (f" ({len(skipped)} skipped)" if skipped else ""))
    return 0
