"""Writers of tiny on-disk datasets (native synthetic layout, KITTI raw layout) for the data tests."""

from pathlib import Path

import numpy as np
import yaml
from PIL import Image


def write_synthetic_sequence(root: Path, name: str, frames: np.ndarray, intrinsics: dict,
                             depth: np.ndarray | None = None) -> Path:
    """``frames`` uint8 ``[N,H,W,3]``; depth float32 ``[N,H,W]`` (default 10 m everywhere)."""
    seq = root / name
    (seq / "rgb").mkdir(parents=True)
    (seq / "depth").mkdir()
    n, h, w, _ = frames.shape
    depth = np.full((n, h, w), 10.0, np.float32) if depth is None else depth
    for i in range(n):
        Image.fromarray(frames[i]).save(seq / "rgb" / f"{i:06d}.png")
        np.save(seq / "depth" / f"{i:06d}.npy", depth[i])
    (seq / "intrinsics.yaml").write_text(yaml.safe_dump(intrinsics))
    np.save(seq / "poses.npy", np.tile(np.eye(4), (n, 1, 1)))
    return seq


def write_split(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_kitti_calib(folder: Path) -> None:
    """Velodyne (x fwd, y left, z up) -> camera (x right, y down, z fwd), shifted 0.5 m; P_rect_02 has a tx column.

    Rectified size 40 x 20; camera 3 has the same matrix with fx = 50.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "calib_velo_to_cam.txt").write_text("calib_time: 15-Mar-2012 11:45:23\nR: 0 -1 0 0 0 -1 1 0 0\n"
                                                  "T: 0.5 0 0\n")
    (folder / "calib_cam_to_cam.txt").write_text(
        "calib_time: 09-Jan-2012 14:00:15\n"
        "S_rect_02: 40 20\nS_rect_03: 40 20\n"
        "R_rect_00: 1 0 0 0 1 0 0 0 1\n"
        "P_rect_02: 100 0 20 10 0 100 10 0 0 0 1 0\n"
        "P_rect_03: 50 0 20 0 0 50 10 0 0 0 1 0\n"
    )


def write_scan(path: Path, xyz: list[tuple[float, float, float]]) -> None:
    points = np.concatenate([np.asarray(xyz, np.float32), np.full((len(xyz), 1), 0.3, np.float32)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    points.astype(np.float32).tofile(path)


def random_frames(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)
