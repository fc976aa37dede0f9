"""Intrinsics helpers: resolution changes, pyramid levels, horizontal flips, normalised <-> pixel form.

All functions take ``K`` of shape ``[..., 3, 3]`` (pixel units unless the name says "normalised") and return a new
tensor of the same shape. The normalised form is Monodepth2's: row 0 divided by the image width, row 1 by the
height (KITTI's is ``[[0.58, 0, 0.5], [0, 1.92, 0.5], [0, 0, 1]]``).
"""

from __future__ import annotations

import torch

# Monodepth2's normalised KITTI intrinsics (row 0 divided by the image width, row 1 by the height).
KITTI_NORMALIZED_K = torch.tensor([[0.58, 0.0, 0.5], [0.0, 1.92, 0.5], [0.0, 0.0, 1.0]])


def make_intrinsics(fx: float, fy: float, cx: float, cy: float, dtype=torch.float32) -> torch.Tensor:
    """A ``[3,3]`` pinhole matrix from its four parameters."""
    return torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=dtype)


def scale_intrinsics(K: torch.Tensor, scale_x: float, scale_y: float) -> torch.Tensor:
    """Intrinsics after resizing the image by ``(scale_x, scale_y)``: rows 0 and 1 are multiplied.

    This is the convention of Monodepth2 and of KITTI loaders (the principal point scales with the image).
    """
    out = K.clone()
    out[..., 0, :] = out[..., 0, :] * scale_x
    out[..., 1, :] = out[..., 1, :] * scale_y
    return out


def resize_intrinsics(K: torch.Tensor, old_size: tuple[int, int], new_size: tuple[int, int]) -> torch.Tensor:
    """Intrinsics for an image resized from ``old_size`` to ``new_size``, both ``(height, width)``."""
    return scale_intrinsics(K, new_size[1] / old_size[1], new_size[0] / old_size[0])


def intrinsics_at_scale(K: torch.Tensor, scale: int) -> torch.Tensor:
    """Intrinsics at pyramid level ``scale`` (resolution divided by ``2**scale``)."""
    factor = 1.0 / (2**scale)
    return scale_intrinsics(K, factor, factor)


def flip_intrinsics(K: torch.Tensor, width: int) -> torch.Tensor:
    """Intrinsics of the horizontally flipped image: ``cx' = (width - 1) - cx``.

    Column ``u`` of the flipped image is column ``width - 1 - u`` of the original, and a point ``(x, y, z)`` of the
    original scene is seen at ``(-x, y, z)``; the focal lengths stay as they are.
    """
    out = K.clone()
    out[..., 0, 2] = (width - 1) - K[..., 0, 2]
    return out


def normalized_to_pixel(K_norm: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pixel intrinsics for an image of ``height x width`` from normalised ones."""
    return scale_intrinsics(K_norm, float(width), float(height))


def pixel_to_normalized(K: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Normalised intrinsics from pixel ones for an image of ``height x width``."""
    return scale_intrinsics(K, 1.0 / width, 1.0 / height)


def invert_intrinsics(K: torch.Tensor) -> torch.Tensor:
    """Closed-form inverse of pinhole intrinsics ``[..., 3, 3]`` (no skew), computed in float32."""
    k = K.float()
    fx, fy, cx, cy = k[..., 0, 0], k[..., 1, 1], k[..., 0, 2], k[..., 1, 2]
    out = torch.zeros_like(k)
    out[..., 0, 0] = 1.0 / fx
    out[..., 1, 1] = 1.0 / fy
    out[..., 0, 2] = -cx / fx
    out[..., 1, 2] = -cy / fy
    out[..., 2, 2] = 1.0
    return out.to(K.dtype)
