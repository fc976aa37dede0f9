"""Ground truth for the Temporal Consistency Metric that anyone can rebuild.

* :func:`synthetic_tcm_snippets`: from the synthetic native layout (docs/architecture.md): exact depths, poses and
  correspondences.
* :func:`kitti_tcm_snippet`: from KITTI raw + odometry ground-truth poses: sparse target LiDAR, densified source
  LiDAR, ``T_target->source`` of camera 2 and correspondences by projecting the target LiDAR points.

Snippets are stored one ``.npz`` per snippet (:func:`save_snippet` / :func:`load_snippet`), layout in
docs/evaluation.md.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from scipy.interpolate import griddata

from tcdepth.evaluation.tcm import WINDOW_FRAME_IDS, TCMSnippet, pixel_rays, source_ids
from tcdepth.io import atomic_write_bytes, load_numeric_npz


def synthetic_tcm_snippets(sequence_dir: str | Path, centre_frames, window: int = 3) -> list[TCMSnippet]:
    """TCM ground truth of a synthetic sequence in the native layout for the given centre frames.

    Depth ``+inf`` (sky) becomes 0 (unknown); ``T_target->source = inv(P_s) @ P_t`` from the camera-to-world
    poses; coordinates and visibility are the centre frame's correspondences
    (:meth:`tcdepth.data.synthetic.SyntheticFrames.correspondences`).
    """
    from tcdepth.data.frames import FrameRef
    from tcdepth.data.synthetic import SyntheticFrames

    sequence_dir = Path(sequence_dir)
    source, sequence = SyntheticFrames(sequence_dir.parent), sequence_dir.name
    K = source.intrinsics(FrameRef(sequence, 0)).K().numpy().astype(np.float64)
    poses = source.poses(sequence)
    if not len(poses):
        raise FileNotFoundError(f"synthetic poses {source.layout.poses(sequence)} do not exist")
    snippets = []
    for centre in centre_frames:
        frames = {k: centre + k for k in WINDOW_FRAME_IDS[window]}
        outside = [f for f in frames.values() if not 0 <= f < len(poses)]
        if outside:
            raise ValueError(f"{sequence_dir}: frames {outside} of the {window}-frame snippet around {centre} are "
                             f"outside the sequence (0..{len(poses) - 1})")
        depth = {k: source.gt_depth(FrameRef(sequence, frame)).astype(np.float64) for k, frame in frames.items()}
        coords, visible = source.correspondences(FrameRef(sequence, centre), source_ids(window))
        transforms = {k: np.linalg.inv(poses[frames[k]]) @ poses[centre] for k in source_ids(window)}
        snippets.append(TCMSnippet(f"{sequence} {centre}", K, depth, transforms, coords, visible))
    return snippets


def save_snippet(snippet: TCMSnippet, path: str | Path) -> None:
    """Write a snippet as one ``.npz`` atomically (keys in docs/evaluation.md)."""
    arrays = {"name": np.array(snippet.name), "K": np.asarray(snippet.K, np.float64),
              "frame_ids": np.array(sorted(snippet.depth), dtype=np.int64)}
    for k, depth in snippet.depth.items():
        arrays[f"depth_{k:+d}"] = np.asarray(depth, np.float32)
    for k in snippet.coords:
        arrays[f"T_{k:+d}"] = np.asarray(snippet.T_target_to_source[k], np.float64)
        arrays[f"coords_{k:+d}"] = np.asarray(snippet.coords[k], np.float32)
        if k in snippet.visible:
            arrays[f"visible_{k:+d}"] = np.asarray(snippet.visible[k], bool)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def load_snippet(path: str | Path) -> TCMSnippet:
    """Read a snippet written by :func:`save_snippet`; a missing key raises ``ValueError`` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"TCM snippet {path} does not exist")
    data = load_numeric_npz(path)

    def get(key):
        if key not in data:
            raise ValueError(f"TCM snippet {path}: missing key {key!r}")
        return data[key]

    frame_ids = [int(k) for k in get("frame_ids")]
    sources = [k for k in frame_ids if k != 0]
    return TCMSnippet(
        name=str(get("name")), K=get("K"),
        depth={k: get(f"depth_{k:+d}").astype(np.float64) for k in frame_ids},
        T_target_to_source={k: get(f"T_{k:+d}") for k in sources},
        coords={k: get(f"coords_{k:+d}").astype(np.float64) for k in sources},
        visible={k: data[f"visible_{k:+d}"] for k in sources if f"visible_{k:+d}" in data},
    )


def densify(sparse: np.ndarray, method: str = "linear") -> np.ndarray:
    """Dense ``[H,W]`` depth from a sparse one (0 = unknown) by ``scipy.interpolate.griddata``; 0 outside the hull."""
    v, u = np.nonzero(sparse > 0)
    if v.size < 3:
        raise ValueError(f"densify needs at least 3 known depths, got {v.size}")
    rows, cols = np.mgrid[0:sparse.shape[0], 0:sparse.shape[1]]
    dense = griddata((v, u), sparse[v, u], (rows, cols), method=method, fill_value=0.0)
    return dense.astype(np.float64)


def kitti_tcm_snippet(data_path: str | Path, folder: str, frame: int, poses: np.ndarray, window: int = 3,
                      method: str = "linear") -> TCMSnippet:
    """TCM ground truth of one KITTI raw centre frame (camera 2).

    Args:
        data_path: KITTI raw root; ``folder`` is ``<date>/<drive>`` and ``frame`` the centre frame index.
        poses: ``[N,4,4]`` camera-0-to-world poses of the drive indexed by raw frame
            (:func:`tcdepth.data.kitti.read_odometry_poses` of the odometry sequence in
            ``tcdepth.data.kitti.ODOMETRY_SEQUENCES``).
        method: ``griddata`` method used to densify the source LiDAR (``"linear"`` or ``"nearest"``).
    Correspondences are the projections of the target LiDAR pixels with the ground-truth motion; pixels without a
    target LiDAR point, behind the source camera or outside its image are not ``visible``.
    """
    from tcdepth.data.kitti import camera2_transform, kitti_intrinsics, velodyne_depth_map

    data_path = Path(data_path)
    calib_dir = data_path / folder.split("/")[0]
    K = kitti_intrinsics(calib_dir, 2).K().numpy().astype(np.float64)

    def scan(index: int) -> np.ndarray:
        velo = data_path / folder / "velodyne_points" / "data" / f"{index:010d}.bin"
        return velodyne_depth_map(calib_dir, velo, cam=2).astype(np.float64)

    if frame + min(source_ids(window)) < 0 or frame + max(source_ids(window)) >= len(poses):
        raise ValueError(f"{folder} {frame}: the {window}-frame snippet needs poses {frame - window // 2}.."
                         f"{frame + window // 2}, the pose file has {len(poses)}")
    target = scan(frame)
    height, width = target.shape
    depth, transforms, coords, visible = {0: target}, {}, {}, {}
    points = pixel_rays(K, height, width) * target.reshape(1, -1)
    for k in source_ids(window):
        depth[k] = densify(scan(frame + k), method)
        transforms[k] = camera2_transform(np.linalg.inv(poses[frame + k]) @ poses[frame], calib_dir)
        cam = K @ (transforms[k][:3, :3] @ points + transforms[k][:3, 3:4])
        in_front = cam[2] > 1e-6
        pix = np.where(in_front, cam[:2] / np.where(in_front, cam[2], 1.0), -1.0).T.reshape(height, width, 2)
        coords[k] = pix
        visible[k] = ((target > 0) & in_front.reshape(height, width) & (pix[..., 0] >= 0)
                      & (pix[..., 0] <= width - 1) & (pix[..., 1] >= 0) & (pix[..., 1] <= height - 1))
    return TCMSnippet(f"{folder} {frame}", K, depth, transforms, coords, visible)
