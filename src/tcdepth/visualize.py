"""Colour maps, contact sheets and atomic PNG output for depth maps and frames."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from tcdepth.io import atomic_write_bytes


def colorize(values: np.ndarray, cmap: str = "magma", vmin: float | None = None,
             vmax: float | None = None) -> np.ndarray:
    """uint8 ``[H,W,3]`` colours of ``values`` ``[H,W]`` under a matplotlib colour map.

    ``vmin``/``vmax`` default to the minimum and maximum of the finite values; non-finite values are black.
    """
    import matplotlib

    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"colorize: expected a [H,W] array, got shape {values.shape}")
    finite = np.isfinite(values)
    lo = float(values[finite].min()) if vmin is None and finite.any() else (vmin or 0.0)
    hi = float(values[finite].max()) if vmax is None and finite.any() else (vmax if vmax is not None else 1.0)
    scaled = np.clip((values - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    rgb = matplotlib.colormaps[cmap](np.where(finite, scaled, 0.0))[..., :3]
    rgb[~finite] = 0.0
    return (rgb * 255.0 + 0.5).astype(np.uint8)


def colorize_depth(depth: np.ndarray, cmap: str = "magma") -> np.ndarray:
    """Depth ``[H,W]`` shown as inverse depth with ``vmax`` at its 95th percentile (Monodepth2's convention);
    sky (+inf) maps to zero inverse depth, missing values (<= 0, NaN) to black."""
    depth = np.asarray(depth, dtype=np.float64)
    with np.errstate(divide="ignore"):
        inverse = np.where(depth > 0, 1.0 / depth, np.nan)
    known = np.isfinite(inverse)
    vmax = float(np.percentile(inverse[known], 95)) if known.any() else 1.0
    return colorize(inverse, cmap, vmin=0.0, vmax=vmax)


def contact_sheet(rows: list[list[np.ndarray]], labels: list[str] | None = None, gap: int = 4) -> np.ndarray:
    """uint8 ``[H,W,3]`` grid of images (each uint8 ``[h,w,3]`` or ``[h,w]``), one list per row; ``labels``
    (one per column) are written above the columns. Images of a column are centred in the widest one."""
    from PIL import Image, ImageDraw

    if not rows or not all(rows):
        raise ValueError("contact_sheet: expected a non-empty list of non-empty rows of images")
    grid = [[np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img for img in row] for row in rows]
    ncols = max(len(row) for row in grid)
    widths = [max(row[c].shape[1] for row in grid if c < len(row)) for c in range(ncols)]
    heights = [max(img.shape[0] for img in row) for row in grid]
    header = 14 if labels else 0
    sheet = np.full((header + sum(heights) + gap * (len(grid) + 1), sum(widths) + gap * (ncols + 1), 3), 255,
                    np.uint8)
    y = header + gap
    for row, height in zip(grid, heights, strict=True):
        x = gap
        for c, img in enumerate(row):
            ox = x + (widths[c] - img.shape[1]) // 2
            sheet[y:y + img.shape[0], ox:ox + img.shape[1]] = img
            x += widths[c] + gap
        y += height + gap
    if labels:
        canvas = Image.fromarray(sheet)
        draw = ImageDraw.Draw(canvas)
        x = gap
        for c, label in enumerate(labels[:ncols]):
            draw.text((x, 1), label, fill=(0, 0, 0))
            x += widths[c] + gap
        sheet = np.asarray(canvas)
    return sheet


def save_png(path: str | Path, image: np.ndarray) -> None:
    """Write a uint8 image (``[H,W]``, ``[H,W,3]``) as PNG atomically."""
    from PIL import Image

    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"save_png({path}): expected uint8 pixels, got {image.dtype}")
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    atomic_write_bytes(path, buffer.getvalue())
