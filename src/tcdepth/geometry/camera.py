"""Pinhole camera geometry on batched tensors (Monodepth2 conventions).

Conventions used everywhere in tcdepth:

* Pixel coordinates are ``(u, v)`` with the centre of the top-left pixel at ``(0, 0)``.
* ``K`` is a pixel intrinsics matrix ``[B,3,3]`` (a ``[B,4,4]`` homogeneous one is accepted too).
* ``T`` is a rigid transform ``[B,4,4]`` that maps points of the source camera frame into the
  target camera frame: ``X_target = T @ X_source``.
* Depth is positive along the optical axis (``z``).

Every function is differentiable and works in float32 and bfloat16 (small matrix algebra is done in
float32 internally and cast back).
"""

from __future__ import annotations

import math

import torch


def disp_to_depth(disp: torch.Tensor, min_depth: float = 0.1, max_depth: float = 100.0):
    """Map a sigmoid disparity to the scaled disparity and depth of Monodepth2.

    ``scaled = 1/max_depth + (1/min_depth - 1/max_depth) * disp`` and ``depth = 1 / scaled``.

    Args:
        disp: sigmoid output in [0, 1], any shape (typically ``[B,1,H,W]``).
    Returns:
        ``(scaled_disp, depth)``, both of the shape of ``disp``.
    """
    min_disp = 1.0 / max_depth
    max_disp = 1.0 / min_depth
    scaled = min_disp + (max_disp - min_disp) * disp
    return scaled, 1.0 / scaled


def axis_angle_to_rotation(axisangle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices from rotation vectors (Rodrigues): ``R = I + a [r]x + b [r]x^2`` with ``theta = |r|``,
    ``a = sin(theta) / theta`` and ``b = (1 - cos(theta)) / theta^2 = sinc(theta / 2)^2 / 2`` (``sinc(x) = sin x / x``).

    The same rotation as ``kornia.geometry.conversions.axis_angle_to_rotation_matrix``, written as a few batched
    operations: with kornia's, the two poses of a training step took 605 small kernels forward and backward, which a
    GPU step pays in host time; 162 with this (benchmarks/README.md, "Memory and launches"). Through ``torch.sinc``
    it is exact and differentiable at ``theta = 0`` too, and ``b`` in this form has no cancellation at small angles.

    Args:
        axisangle: ``[...,3]`` (direction = axis, norm = angle in radians).
    Returns:
        ``[...,3,3]`` in the dtype of ``axisangle``.
    """
    theta = torch.linalg.vector_norm(axisangle, dim=-1)[..., None, None]
    x, y, z = axisangle.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack((zero, -z, y, z, zero, -x, -y, x, zero), dim=-1).unflatten(-1, (3, 3))
    a = torch.sinc(theta / math.pi)
    b = 0.5 * torch.sinc(theta / (2 * math.pi)).square()
    eye = torch.eye(3, device=axisangle.device, dtype=axisangle.dtype)
    return eye + a * skew + b * (skew @ skew)


def rigid_transform(rotation: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """The homogeneous transform ``[R, t; 0, 1]`` ``[...,4,4]`` of rotations ``[...,3,3]`` and translations
    ``[...,3]``."""
    top = torch.cat((rotation, translation.unsqueeze(-1)), dim=-1)
    bottom = torch.zeros_like(top[..., :1, :])
    bottom[..., 3] = 1.0
    return torch.cat((top, bottom), dim=-2)


def pose_vec_to_mat(axisangle: torch.Tensor, translation: torch.Tensor, invert: bool = False) -> torch.Tensor:
    """Rigid transform from an axis-angle rotation and a translation (Monodepth2 ``transformation_from_parameters``).

    The forward transform is ``M = T(t) @ R`` (rotate, then translate). ``invert=True`` returns ``M^-1 =
    R^T @ T(-t)``.

    Args:
        axisangle: ``[B,3]`` rotation vector (direction = axis, norm = angle in radians).
        translation: ``[B,3]``.
    Returns:
        ``[B,4,4]``.
    """
    if axisangle.shape[-1] != 3 or translation.shape[-1] != 3:
        raise ValueError(f"axisangle and translation must be [B,3], got {tuple(axisangle.shape)} and "
                         f"{tuple(translation.shape)}")
    dtype = axisangle.dtype
    rot = axis_angle_to_rotation(axisangle.reshape(-1, 3).float())
    t = translation.reshape(-1, 3).float()
    if invert:
        rot = rot.transpose(-1, -2)
        t = -(rot @ t.unsqueeze(-1)).squeeze(-1)
    return rigid_transform(rot, t).to(dtype)


def invert_rigid(T: torch.Tensor) -> torch.Tensor:
    """Inverse of rigid transforms ``[...,4,4]`` in closed form, ``[R^T, -R^T t; 0, 1]``.

    Unlike ``torch.linalg.inv`` it makes no singularity check, so on a GPU the host never waits for the result.
    """
    if T.shape[-2:] != (4, 4):
        raise ValueError(f"T must be [...,4,4], got {tuple(T.shape)}")
    rot_t = T[..., :3, :3].transpose(-1, -2)
    return rigid_transform(rot_t, -(rot_t @ T[..., :3, 3:]).squeeze(-1))


def _as_3x3(mat: torch.Tensor, name: str) -> torch.Tensor:
    if mat.dim() < 3 or mat.shape[-2:] not in ((3, 3), (4, 4)):
        raise ValueError(f"{name} must be [B,3,3] or [B,4,4] (or with more leading axes), got {tuple(mat.shape)}")
    return mat[..., :3, :3]


def pixel_grid(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Homogeneous pixel coordinates ``[3, H*W]`` (rows u, v, 1), row-major order (index = v*W + u)."""
    v, u = torch.meshgrid(
        torch.arange(height, device=device, dtype=dtype),
        torch.arange(width, device=device, dtype=dtype),
        indexing="ij",
    )
    return torch.stack([u.reshape(-1), v.reshape(-1), torch.ones_like(u).reshape(-1)], dim=0)


def _apply_3x3(M: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """``M @ X`` for ``M [...,3,3]`` and ``X [...,3,N]`` (leading axes broadcast) as three multiply-adds over the
    columns.

    Equal to the matrix product, but one elementwise pass: on a GPU a batched 3x3 product over many columns runs
    as a slow matrix-vector kernel.
    """
    return M[..., 0:1] * X[..., 0:1, :] + M[..., 1:2] * X[..., 1:2, :] + M[..., 2:3] * X[..., 2:3, :]


def backproject(depth: torch.Tensor, inv_K: torch.Tensor) -> torch.Tensor:
    """Lift every pixel to 3D in its own camera frame: ``P = depth * K^-1 [u, v, 1]^T``.

    Args:
        depth: ``[B,1,H,W]``.
        inv_K: ``[B,3,3]`` or ``[B,4,4]`` inverse pixel intrinsics.
    Returns:
        points ``[B,3,H,W]``.
    """
    if depth.dim() != 4 or depth.shape[1] != 1:
        raise ValueError(f"depth must be [B,1,H,W], got {tuple(depth.shape)}")
    b, _, h, w = depth.shape
    inv = _as_3x3(inv_K, "inv_K").float()
    rays = _apply_3x3(inv, pixel_grid(h, w, device=depth.device).unsqueeze(0))  # [B,3,HW]
    return (rays.to(depth.dtype) * depth.reshape(b, 1, h * w)).reshape(b, 3, h, w)


def transform_points(points: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """Apply a rigid transform to a point map.

    Args:
        points: ``[B,3,H,W]``.
        T: ``[B,4,4]`` (or ``[B,3,4]``).
    Returns:
        ``[B,3,H,W]``.
    """
    b, _, h, w = points.shape
    rot = T[:, :3, :3].to(points.dtype)
    trans = T[:, :3, 3:4].to(points.dtype)
    return (_apply_3x3(rot, points.reshape(b, 3, h * w)) + trans).reshape(b, 3, h, w)


def project(points: torch.Tensor, K: torch.Tensor, T: torch.Tensor | None = None, eps: float = 1e-7) -> torch.Tensor:
    """Pixel coordinates of 3D points after an optional rigid transform: ``pi(K (T P))``.

    Args:
        points: ``[B,3,H,W]`` in the source camera frame.
        K: ``[B,3,3]`` or ``[B,4,4]`` pixel intrinsics of the target camera.
        T: ``[B,4,4]`` source-to-target transform, or None for the identity.
    Returns:
        pix ``[B,H,W,2]`` holding ``(u, v)``.
    """
    return project_with_depth(points, K, T, eps)[0]


def project_with_depth(
    points: torch.Tensor, K: torch.Tensor, T: torch.Tensor | None = None, eps: float = 1e-7
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates ``pi(K (T P))`` of 3D points and their depth ``z`` in the target camera (the third
    coordinate of ``K T P``: the last row of a pixel intrinsics matrix is ``[0, 0, 1]``).

    ``K`` is folded into ``T`` first (``K R`` and ``K t``, 3x3 products), so the point map is transformed once.
    Leading axes broadcast: one batch's points ``[B,3,H,W]`` against the transforms of ``F`` frames
    ``[F,B,4,4]`` give ``[F,B,...]`` results without a copy of the points per frame.

    Args:
        points: ``[...,3,H,W]`` in the source camera frame.
        K: ``[...,3,3]`` or ``[...,4,4]`` pixel intrinsics of the target camera.
        T: ``[...,4,4]`` source-to-target transforms, or None for the identity.
    Returns:
        ``(pix [...,H,W,2] holding (u, v), depth [...,1,H,W])`` on the grid of ``points``.
    """
    h, w = points.shape[-2:]
    small = torch.promote_types(points.dtype, torch.float32)  # the 3x3 products in float32 at least
    intrinsics = _as_3x3(K, "K").to(small)
    if T is None:
        cam = _apply_3x3(intrinsics.to(points.dtype), points.flatten(-2))
    else:
        rotation = (intrinsics @ T[..., :3, :3].to(small)).to(points.dtype)
        translation = (intrinsics @ T[..., :3, 3:].to(small)).to(points.dtype)
        cam = _apply_3x3(rotation, points.flatten(-2)) + translation
    pix = cam[..., :2, :] / (cam[..., 2:3, :] + eps)
    return pix.unflatten(-1, (h, w)).movedim(-3, -1), cam[..., 2:3, :].unflatten(-1, (h, w))


def transformed_depth(depth: torch.Tensor, inv_K: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """Depth of each back-projected pixel seen from the camera that ``T`` maps into.

    Args:
        depth: ``[B,1,H,W]``.
        inv_K: ``[B,3,3]`` or ``[B,4,4]``.
        T: ``[B,4,4]``.
    Returns:
        ``[B,1,H,W]``: the ``z`` of ``T @ backproject(depth)``, kept on the source grid.
    """
    return transform_points(backproject(depth, inv_K), T)[:, 2:3]


def pixels_to_grid(pix: torch.Tensor, height: int, width: int, align_corners: bool = True) -> torch.Tensor:
    """Convert pixel coordinates ``[B,H,W,2]`` into the ``[-1, 1]`` grid of ``torch.nn.functional.grid_sample``.

    With ``align_corners=True`` pixel ``0`` maps to ``-1`` and ``W-1`` to ``1``; with ``False`` pixel ``0`` maps to
    ``-1 + 1/W``. Use the same flag in ``grid_sample``.
    """
    if align_corners:
        return scale_pixels(pix, (2.0 / (width - 1), 2.0 / (height - 1)), (-1.0, -1.0))
    return scale_pixels(pix, (2.0 / width, 2.0 / height), (1.0 / width - 1.0, 1.0 / height - 1.0))


def scale_pixels(pix: torch.Tensor, scale: tuple[float, float], offset: tuple[float, float]) -> torch.Tensor:
    """``(u * scale_u + offset_u, v * scale_v + offset_v)`` for pixel coordinates ``[...,2]``.

    The factors are Python numbers: a tensor of them would be copied from the host, and on a GPU the host would
    wait for that copy.
    """
    u, v = pix.unbind(-1)
    return torch.stack((u * scale[0] + offset[0], v * scale[1] + offset[1]), dim=-1)
