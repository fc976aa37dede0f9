"""Figures of the demo report (matplotlib, Agg backend): training curves, a point-cloud view, attention maps."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from tcdepth.io import atomic_path
from tcdepth.runs import Run

CURVE_PANELS = (("train/loss", "training loss"), ("val/abs_rel", "validation abs_rel"), ("val/a1", "validation a1"))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
    _pyplot().close(fig)


def read_metrics_csv(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{column: (steps, values)}`` of a Lightning ``metrics.csv`` (rows without a value are dropped)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training log {path} does not exist")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "step" not in rows[0]:
        raise ValueError(f"{path}: expected a Lightning metrics.csv with a 'step' column")
    curves = {}
    for column in rows[0]:
        pairs = [(int(r["step"]), float(r[column])) for r in rows if r.get(column) not in (None, "")]
        if column not in ("step", "epoch") and pairs:
            steps, values = zip(*pairs, strict=True)
            curves[column] = (np.asarray(steps), np.asarray(values))
    return curves


def plot_training_curves(runs: dict[str, Path], path: str | Path) -> None:
    """Loss and validation curves (``CURVE_PANELS``) of each run's ``metrics.csv``, one line per run."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(CURVE_PANELS), figsize=(5 * len(CURVE_PANELS), 3.4))
    for label, run_dir in runs.items():
        curves = read_metrics_csv(Run(run_dir).metrics_csv)
        for ax, (column, _) in zip(axes, CURVE_PANELS, strict=True):
            if column in curves:
                steps, values = curves[column]
                ax.plot(steps, values, marker="o" if column.startswith("val/") else None, markersize=3,
                        label=label)
    for ax, (_, title) in zip(axes, CURVE_PANELS, strict=True):
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    _save(fig, path)


def read_ply(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(points [N,3] float32, colors [N,3] uint8)`` of a PLY with ``x y z red green blue`` vertices (binary
    little endian or ascii, as written by :func:`tcdepth.inference.writers.ply_bytes`)."""
    data = Path(path).read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise ValueError(f"{path}: not a PLY file (no 'ply' magic or 'end_header')")
    header = data[:end].decode("ascii").splitlines()
    count = next((int(line.split()[2]) for line in header if line.startswith("element vertex")), None)
    properties = [line.split()[-1] for line in header if line.startswith("property")]
    if count is None or properties != ["x", "y", "z", "red", "green", "blue"]:
        raise ValueError(f"{path}: expected 'element vertex N' with properties x y z red green blue, got "
                         f"{properties}")
    body = data[end + len(b"end_header\n"):]
    if "format binary_little_endian 1.0" in header:
        vertex = np.dtype([("xyz", "<f4", 3), ("rgb", "u1", 3)])
        if len(body) < count * vertex.itemsize:
            raise ValueError(f"{path}: truncated, {count} vertices need {count * vertex.itemsize} bytes")
        table = np.frombuffer(body, dtype=vertex, count=count)
        return table["xyz"].copy(), table["rgb"].copy()
    values = np.array(body.decode("ascii").split(), dtype=np.float64).reshape(-1, 6)[:count]
    return values[:, :3].astype(np.float32), values[:, 3:].astype(np.uint8)


def plot_point_cloud(points: np.ndarray, colors: np.ndarray, path: str | Path, max_points: int = 40000,
                     seed: int = 0) -> None:
    """A bird's-eye view (x right, z forward; camera axes of the first frame) and an oblique 3D view of a
    coloured point cloud ``points [N,3]``, ``colors [N,3]`` uint8; far outliers (beyond the 95th percentile of
    distance) are left out."""
    if len(points) == 0:
        raise ValueError("plot_point_cloud: the point cloud is empty")
    distance = np.linalg.norm(points, axis=1)
    keep = np.flatnonzero(distance <= np.percentile(distance, 95))
    if len(keep) > max_points:
        keep = np.random.default_rng(seed).choice(keep, max_points, replace=False)
    pts, rgb = points[keep], colors[keep] / 255.0
    plt = _pyplot()
    fig = plt.figure(figsize=(12, 5))
    top = fig.add_subplot(1, 2, 1)
    top.scatter(pts[:, 0], pts[:, 2], c=rgb, s=1, linewidths=0)
    top.set_aspect("equal")
    top.set_xlabel("x (right)")
    top.set_ylabel("z (forward)")
    top.set_title("bird's-eye view")
    oblique = fig.add_subplot(1, 2, 2, projection="3d")
    oblique.scatter(pts[:, 0], pts[:, 2], -pts[:, 1], c=rgb, s=1, linewidths=0)
    oblique.view_init(elev=25, azim=-70)
    oblique.set_xlabel("x")
    oblique.set_ylabel("z")
    oblique.set_zlabel("up")
    oblique.set_title("3D view")
    _save(fig, path)


def plot_attention(frames: np.ndarray, spatial: np.ndarray, temporal: np.ndarray, grid: tuple[int, int],
                   queries: list[tuple[int, int]], path: str | Path) -> None:
    """Where query pixels look: one row per query, the spatial attention on the centre frame and the temporal
    attention on the previous and next frames, overlaid on the images.

    Args:
        frames: uint8 ``[3,H,W,3]`` in the order 0, -1, +1.
        spatial: ``[N,N]`` spatial attention of the centre view (row: query, column: key), ``N = h*w``.
        temporal: ``[2,N,N]`` temporal attention of the centre view to views -1 and +1.
        grid: ``(h, w)`` of the attention feature grid.
        queries: ``(row, col)`` query positions on the feature grid.
    """
    h, w = grid
    n = h * w
    if spatial.shape != (n, n) or temporal.shape != (2, n, n):
        raise ValueError(f"plot_attention: expected spatial [{n},{n}] and temporal [2,{n},{n}] for a {h}x{w} grid, "
                         f"got {spatial.shape} and {temporal.shape}")
    image_h, image_w = frames.shape[1:3]
    cell_y, cell_x = image_h / h, image_w / w
    panels = (("spatial, frame t", frames[0], spatial), ("temporal, frame t-1", frames[1], temporal[0]),
              ("temporal, frame t+1", frames[2], temporal[1]))
    plt = _pyplot()
    fig, axes = plt.subplots(len(queries), len(panels), figsize=(4.2 * len(panels), 1.6 * len(queries) + 0.4),
                             squeeze=False)
    for row, (qy, qx) in enumerate(queries):
        for col, (title, image, attention) in enumerate(panels):
            ax = axes[row, col]
            weights = attention[qy * w + qx].reshape(h, w)
            ax.imshow(image)
            ax.imshow(weights / max(float(weights.max()), 1e-12), cmap="inferno", alpha=0.6,
                      extent=(-0.5, image_w - 0.5, image_h - 0.5, -0.5), interpolation="bilinear")
            ax.plot((qx + 0.5) * cell_x - 0.5, (qy + 0.5) * cell_y - 0.5, marker="x", color="cyan", markersize=9,
                    markeredgewidth=2)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=10)
            if col == 0:
                ax.set_ylabel(f"query ({qy},{qx})", fontsize=8)
    _save(fig, path)


def attention_queries(grid: tuple[int, int], moving_mask: np.ndarray | None, count: int = 3) -> list[tuple[int, int]]:
    """``count`` query cells of an ``(h, w)`` grid: the centre of the moving objects (when ``moving_mask``
    ``[H,W]`` has any), then fixed cells on the road ahead, the left side and the right side."""
    h, w = grid
    queries = []
    if moving_mask is not None and moving_mask.any():
        ys, xs = np.nonzero(moving_mask)
        queries.append((min(h - 1, int(ys.mean() * h / moving_mask.shape[0])),
                        min(w - 1, int(xs.mean() * w / moving_mask.shape[1]))))
    for fy, fx in ((0.8, 0.5), (0.55, 0.15), (0.5, 0.85)):
        cell = (min(h - 1, math.floor(fy * h)), min(w - 1, math.floor(fx * w)))
        if cell not in queries:
            queries.append(cell)
    return queries[:count]
