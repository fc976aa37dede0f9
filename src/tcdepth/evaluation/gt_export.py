"""Ground-truth depth export for the KITTI Eigen splits: ``gt_depths.npz`` (key ``data``, object array of full-res
float32 depth maps, one per split line, in split order), the file every tool of the Monodepth2 family reads.

* ``eigen`` (697 frames): raw Velodyne scans projected into camera 2 (``tcdepth.data.kitti.velodyne_depth_map``,
  the devkit / Monodepth2 rule), at the rectified image size.
* ``eigen_benchmark`` (652 frames): the annotated depth maps of the KITTI depth benchmark,
  ``<data_path>/<date>/<drive>/proj_depth/groundtruth/image_02/<frame:010d>.png`` (uint16, depth = value / 256,
  0 = invalid). They come from the "annotated depth maps" archive (``data_depth_annotated.zip``) of
  https://www.cvlibs.net/datasets/kitti/eval_depth.php, unpacked over the raw data folders.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from tcdepth.data.kitti import velodyne_depth_map
from tcdepth.data.splits import KittiSplitEntry, read_kitti_split
from tcdepth.io import atomic_path

SPLITS = ("eigen", "eigen_benchmark")


def velodyne_gt_depth(data_path: str | Path, entry: KittiSplitEntry) -> np.ndarray:
    """``[H,W]`` float32 depth of the Velodyne scan of ``entry`` projected into camera 2 (0 = no point)."""
    data_path = Path(data_path)
    velo = data_path / entry.folder / "velodyne_points" / "data" / f"{entry.frame:010d}.bin"
    return velodyne_depth_map(data_path / entry.date, velo, cam=2)


def benchmark_gt_depth(data_path: str | Path, entry: KittiSplitEntry) -> np.ndarray:
    """``[H,W]`` float32 depth of the annotated benchmark PNG of ``entry`` (uint16 / 256, 0 = invalid)."""
    path = Path(data_path) / entry.folder / "proj_depth" / "groundtruth" / "image_02" / f"{entry.frame:010d}.png"
    if not path.is_file():
        raise FileNotFoundError(f"annotated depth map {path} does not exist (unpack data_depth_annotated.zip "
                                "from the KITTI depth benchmark over the raw data)")
    raw = np.array(Image.open(path))
    if raw.ndim != 2 or raw.dtype not in (np.uint16, np.int32):
        raise ValueError(f"annotated depth map {path}: expected a 16-bit single-channel PNG, got {raw.dtype} "
                         f"{raw.shape}")
    return (raw.astype(np.float32) / 256.0).astype(np.float32)


def export_gt_depths(
    data_path: str | Path,
    split: str,
    split_file: str | Path,
    out: str | Path,
    skip_missing: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Write ``gt_depths.npz`` for a split and return the descriptions of the items that were missing.

    With ``skip_missing`` a missing input file is reported and its entry stored as ``None`` (so that indices stay
    aligned with the split; the Eigen protocol skips it with ``skip_bad``); otherwise it raises
    ``FileNotFoundError`` naming the file and nothing is written. ``progress(done, total)`` is called per item.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if not Path(data_path).is_dir():
        raise FileNotFoundError(f"KITTI data path {data_path} does not exist")
    read = velodyne_gt_depth if split == "eigen" else benchmark_gt_depth
    entries = read_kitti_split(split_file)
    depths = np.empty(len(entries), dtype=object)
    missing = []
    for index, entry in enumerate(entries):
        try:
            depths[index] = read(data_path, entry)
        except FileNotFoundError as err:
            if not skip_missing:
                raise FileNotFoundError(f"{split_file} line {index + 1} ({entry.folder} {entry.frame}): {err}") \
                    from err
            missing.append(f"{entry.folder} {entry.frame}: {err}")
        if progress is not None:
            progress(index + 1, len(entries))
    with atomic_path(out) as tmp:
        np.savez_compressed(tmp, data=depths)
    return missing
