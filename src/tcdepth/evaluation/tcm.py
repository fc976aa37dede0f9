"""Temporal Consistency Metric (TC-Depth, spec 6.2) on arrays.

A snippet is a target frame 0 and source frames ``k`` (``WINDOW_FRAME_IDS``). For a depth pair ``(Z_0, Z_k)``
the 3D track length at target pixel ``p`` is ``|z1(p) - z2(p)| * ||K^-1 p~||`` with ``z1`` the depth of the target
point seen from the source camera (kept on the target grid) and ``z2`` the source depth sampled at the ground-truth
correspondence of ``p``. The ground-truth track uses the ground-truth depths; the predicted track uses the
predicted depths with the same ground-truth motion and correspondences, so any frame-to-frame inconsistency of the
prediction shows up as a track error.

Pixel convention: correspondences are pixel coordinates ``(u, v)`` with the centre of the top-left pixel at
``(0, 0)`` (docs/architecture.md). Sampling is bilinear between pixel centres; within one pixel outside the image
the value is blended with zeros and farther out it is 0 (``grid_sample`` zero padding, ``align_corners=True``).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tcdepth.io import atomic_write_text
from tcdepth.metrics import TRACK_METRICS, crop_mask, resize_bilinear, track_errors

WINDOW_FRAME_IDS = {3: [0, -1, 1], 5: [0, -1, 1, -2, 2], 7: [0, -1, 1, -2, 2, -3, 3]}
TRACK_GT_THRESHOLD = 0.3  # metres: ground-truth tracks longer than this are not self-consistent and are masked


def source_ids(window: int) -> list[int]:
    """Source frame ids of a snippet of ``window`` frames, in the reference order (``[-1, 1, -2, 2, ...]``)."""
    if window not in WINDOW_FRAME_IDS:
        raise ValueError(f"TCM window must be one of {sorted(WINDOW_FRAME_IDS)}, got {window}")
    return WINDOW_FRAME_IDS[window][1:]


def sample_bilinear(image: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Sample ``image [H,W]`` at pixel coordinates ``coords [h,w,2]`` (``u, v``), zeros outside; returns ``[h,w]``."""
    height, width = image.shape
    grid = torch.from_numpy(np.asarray(coords, dtype=np.float64)).clone()
    grid[..., 0] = 2.0 * grid[..., 0] / (width - 1) - 1.0
    grid[..., 1] = 2.0 * grid[..., 1] / (height - 1) - 1.0
    source = torch.from_numpy(np.asarray(image, dtype=np.float64))[None, None]
    sampled = F.grid_sample(source, grid[None], mode="bilinear", padding_mode="zeros", align_corners=True)
    return sampled[0, 0].numpy()


def pixel_rays(K: np.ndarray, height: int, width: int) -> np.ndarray:
    """``K^-1 [u, v, 1]^T`` for every pixel, ``[3, H*W]`` in row-major pixel order."""
    v, u = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    return np.linalg.inv(np.asarray(K, dtype=np.float64)[:3, :3]) @ np.stack([u, v, np.ones_like(u)]).reshape(3, -1)


def ray_norms(K: np.ndarray, height: int, width: int) -> np.ndarray:
    """``||K^-1 [u, v, 1]^T||`` for every pixel, ``[H,W]``."""
    return np.linalg.norm(pixel_rays(K, height, width), axis=0).reshape(height, width)


def depth_in_source(depth_t: np.ndarray, K: np.ndarray, T_t_to_s: np.ndarray) -> np.ndarray:
    """``z1``: the ``z`` of ``T_t_to_s @ (depth_t K^-1 p~)`` for every target pixel, ``[H,W]``."""
    height, width = depth_t.shape
    points = pixel_rays(K, height, width) * np.asarray(depth_t, dtype=np.float64).reshape(1, -1)
    T = np.asarray(T_t_to_s, dtype=np.float64)
    return (T[2, :3] @ points + T[2, 3]).reshape(height, width)


def depth_pair_track(depth_t, depth_s, K, T_t_to_s, coords_t_to_s) -> np.ndarray:
    """3D track length ``[H,W]`` of a depth pair as the TCM defines it.

    Args:
        depth_t: ``[H,W]`` target depth (may be sparse, 0 = unknown).
        depth_s: ``[H,W]`` source depth (dense).
        K: ``[3,3]`` pixel intrinsics of both frames.
        T_t_to_s: ``[4,4]`` maps target-camera points into the source camera.
        coords_t_to_s: ``[H,W,2]`` pixel ``(u, v)`` in the source frame of each target pixel.
    Returns:
        ``|z1 - z2| * ||K^-1 p~||`` with ``z1`` from :func:`depth_in_source` and ``z2`` = ``depth_s`` sampled at
        ``coords_t_to_s`` (:func:`sample_bilinear`).
    """
    depth_t = np.asarray(depth_t, dtype=np.float64)
    depth_s = np.asarray(depth_s, dtype=np.float64)
    if depth_t.ndim != 2 or depth_t.shape != depth_s.shape:
        raise ValueError(f"depth_t and depth_s must be [H,W] of one size, got {depth_t.shape}, {depth_s.shape}")
    if np.shape(coords_t_to_s) != (*depth_t.shape, 2):
        raise ValueError(f"coords_t_to_s must be [H,W,2] = {(*depth_t.shape, 2)}, got {np.shape(coords_t_to_s)}")
    z1 = depth_in_source(depth_t, K, T_t_to_s)
    z2 = sample_bilinear(depth_s, coords_t_to_s)
    return np.abs(z1 - z2) * ray_norms(K, *depth_t.shape)


@dataclass
class TCMSnippet:
    """Ground truth of one snippet.

    ``depth`` maps frame id to an ``[H,W]`` depth in metres (0 = unknown; the target may be sparse, the sources
    should be dense); ``T_target_to_source``, ``coords`` (``[H,W,2]`` pixels) and the optional ``visible``
    (``[H,W]`` bool) map each source id.
    """

    name: str
    K: np.ndarray
    depth: dict[int, np.ndarray]
    T_target_to_source: dict[int, np.ndarray]
    coords: dict[int, np.ndarray]
    visible: dict[int, np.ndarray] = field(default_factory=dict)

    def check(self, window: int) -> None:
        for frame_id in WINDOW_FRAME_IDS[window]:
            if frame_id not in self.depth:
                raise ValueError(f"snippet {self.name}: no ground-truth depth for frame {frame_id:+d}")
        for frame_id in source_ids(window):
            for what, table in (("T_target_to_source", self.T_target_to_source), ("coords", self.coords)):
                if frame_id not in table:
                    raise ValueError(f"snippet {self.name}: no {what} for source frame {frame_id:+d}")


def scale_to_target(pred: dict[int, np.ndarray], gt_target: np.ndarray, mask: np.ndarray,
                    max_depth: float = 50.0, min_depth: float = 1e-3, median_scaling: bool = True
                    ) -> dict[int, np.ndarray]:
    """Resize predicted depths to the ground-truth size, scale all by the target's median ratio, clamp.

    The ratio ``median(gt_0) / median(pred_0)`` is computed on ``mask`` (M0) and applied to the target AND the
    sources, so a scale drift between frames is penalised.
    """
    height, width = gt_target.shape
    resized = {k: resize_bilinear(np.asarray(d, dtype=np.float32), height, width).astype(np.float64)
               for k, d in pred.items()}
    ratio = float(np.median(gt_target[mask]) / np.median(resized[0][mask])) if median_scaling else 1.0
    return {k: np.clip(d * ratio, min_depth, max_depth) for k, d in resized.items()}


@dataclass
class PairResult:
    snippet: str
    source: int
    metrics: dict[str, float]
    pixels: int


@dataclass
class TCMResult:
    """Mean TCM errors (metres / square metres) over all (snippet, source) pairs with a non-empty mask."""

    window: int
    mean: dict[str, float]
    pairs: list[PairResult]
    empty: list[tuple[str, int]]

    def to_dict(self) -> dict:
        return {"window": self.window, "metrics": self.mean, "num_pairs": len(self.pairs),
                "empty_pairs": [{"snippet": s, "source": k} for s, k in self.empty]}

    def per_pair_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["snippet", "source", *TRACK_METRICS, "pixels"])
        for pair in self.pairs:
            writer.writerow([pair.snippet, pair.source, *(f"{pair.metrics[m]:.6f}" for m in TRACK_METRICS),
                             pair.pixels])
        return buffer.getvalue()

    def write(self, json_path: str | Path | None = None, csv_path: str | Path | None = None) -> None:
        if json_path is not None:
            atomic_write_text(json_path, json.dumps(self.to_dict(), indent=2) + "\n")
        if csv_path is not None:
            atomic_write_text(csv_path, self.per_pair_csv())


def evaluate_snippet(snippet: TCMSnippet, pred: dict[int, np.ndarray], window: int = 3, keep: float = 0.8,
                     max_depth: float = 50.0, crop: str = "garg", median_scaling: bool = True
                     ) -> list[tuple[int, dict[str, float], int]]:
    """TCM errors ``[(source id, track_errors, mask pixels)]`` of one snippet.

    ``pred`` maps each frame id of the window to a predicted depth (any size, resized bilinearly). The mask starts
    as M0 = ``(1e-3 < gt_0 < max_depth)`` and the crop, and accumulates ``track_gt < 0.3`` (and ``visible`` where
    given) over the sources in window order, as the reference: source ``-1`` uses the smallest mask history.
    """
    snippet.check(window)
    missing = [k for k in WINDOW_FRAME_IDS[window] if k not in pred]
    if missing:
        raise ValueError(f"snippet {snippet.name}: no predicted depth for frames {missing}")
    gt_target = np.asarray(snippet.depth[0], dtype=np.float64)
    mask = (gt_target > 1e-3) & (gt_target < max_depth) & crop_mask(*gt_target.shape, crop)
    if not mask.any():
        raise ValueError(f"snippet {snippet.name}: no target ground truth in (1e-3, {max_depth}) m in the crop")
    scaled = scale_to_target({k: pred[k] for k in WINDOW_FRAME_IDS[window]}, gt_target, mask, max_depth,
                             median_scaling=median_scaling)
    results = []
    for k in source_ids(window):
        T, coords = snippet.T_target_to_source[k], snippet.coords[k]
        track_gt = depth_pair_track(gt_target, snippet.depth[k], snippet.K, T, coords)
        track_pred = depth_pair_track(scaled[0], scaled[k], snippet.K, T, coords)
        mask = mask & (track_gt < TRACK_GT_THRESHOLD)
        if k in snippet.visible:
            mask = mask & np.asarray(snippet.visible[k], dtype=bool)
        results.append((k, track_errors(track_gt, track_pred, mask, keep), int(mask.sum())))
    return results


def evaluate_tcm(snippets, predictions, window: int = 3, keep: float = 0.8, max_depth: float = 50.0,
                 crop: str = "garg", median_scaling: bool = True) -> TCMResult:
    """TCM over snippets: the mean of each error over all (snippet, source) pairs.

    Args:
        snippets: iterable of :class:`TCMSnippet`.
        predictions: iterable (same order) of ``{frame id: [h,w] predicted depth}``.
    Pairs whose mask is empty are listed in ``TCMResult.empty`` and left out of the mean.
    """
    snippets, predictions = list(snippets), list(predictions)
    if len(snippets) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(snippets)} TCM snippets")
    pairs, empty = [], []
    for snippet, pred in zip(snippets, predictions, strict=True):
        for k, metrics, pixels in evaluate_snippet(snippet, pred, window, keep, max_depth, crop, median_scaling):
            if np.isnan(metrics["abs"]):
                empty.append((snippet.name, k))
            else:
                pairs.append(PairResult(snippet.name, k, metrics, pixels))
    if not pairs:
        raise ValueError("TCM: every (snippet, source) pair has an empty mask")
    mean = {m: float(np.mean([p.metrics[m] for p in pairs])) for m in TRACK_METRICS}
    return TCMResult(window=window, mean=mean, pairs=pairs, empty=empty)
