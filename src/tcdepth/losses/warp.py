"""View synthesis: reprojecting the centre frame's pixels into source frames and sampling them there; resizing maps
to the resolution a loss is computed at."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tcdepth.geometry import backproject, pixels_to_grid, project_with_depth, scale_pixels


def reproject(depth: torch.Tensor, K: torch.Tensor, inv_K: torch.Tensor, T: torch.Tensor):
    """Where the pixels of the centre frame land in each source frame, and their depth there.

    The centre frame is back-projected once and projected by every transform (no copy of the points per frame).

    Args:
        depth: ``[B,1,H,W]`` depth of the centre frame.
        K, inv_K: ``[B,3,3]`` pixel intrinsics of the ``H x W`` image and their inverse.
        T: ``[F,B,4,4]`` transforms ``T_{0->f}`` for ``F`` source frames.
    Returns:
        ``(pix [F,B,H,W,2], depth_in_source [F,B,1,H,W])``: pixel ``(u, v)`` in frame ``f`` and the ``z`` of
        the point in frame ``f``'s camera, both on the centre grid.
    """
    return project_with_depth(backproject(depth, inv_K), K, T)


def warp_frame(
    image: torch.Tensor, pix: torch.Tensor, padding_mode: str = "border", align_corners: bool = True
) -> torch.Tensor:
    """Bilinearly sample ``image`` at pixel coordinates ``pix`` (pixel centres at integers).

    Args:
        image: ``[N,C,h,w]`` to sample from.
        pix: ``[N,H,W,2]`` pixel ``(u, v)`` in ``image``.
        padding_mode: ``grid_sample`` padding outside the image (``"border"`` or ``"zeros"``).
        align_corners: grid convention; for pixel coordinates both conventions sample the same points.
    Returns:
        ``[N,C,H,W]``.
    """
    h, w = image.shape[-2:]
    grid = pixels_to_grid(pix, h, w, align_corners=align_corners)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode=padding_mode, align_corners=align_corners)


def misaligned_pixels(pix: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pixels that the reference's depth sampling actually reads for intended pixels ``pix`` ``[...,2]``.

    The reference normalises with ``(W - 1)`` (``align_corners=True``) but samples with ``align_corners=False``,
    i.e. it reads ``u' = u * W / (W - 1) - 0.5`` (and likewise for ``v``). Used only to reproduce that bug.
    """
    return scale_pixels(pix, (width / (width - 1), height / (height - 1)), (-0.5, -0.5))


def upsample_bilinear(maps: torch.Tensor, size) -> torch.Tensor:
    """``[N,C,h,w]`` maps resized bilinearly (``align_corners=False``) to ``size = (H, W)``; unchanged at that size."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps, size=tuple(size), mode="bilinear", align_corners=False)


def downsample_area(maps: torch.Tensor, size) -> torch.Tensor:
    """``[N,C,H,W]`` maps area-averaged to ``size = (h, w)``; unchanged at that size."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps, size=tuple(size), mode="area")
