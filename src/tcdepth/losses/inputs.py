"""Checks of what the objectives receive: the batched sample, the networks' outputs, the poses and the teacher's
disparity. Each returns the checked tensor in float32 or raises a ValueError naming the key and the expected shape.

Layout (docs/architecture.md): ``color_{s}`` ``[B,3,3,H/2^s,W/2^s]`` in the frame order ``[0, -1, 1]``, ``K_{s}``
and ``inv_K_{s}`` ``[B,3,3]`` (or ``[B,4,4]``), poses ``{-1: T_{0->-1}, 1: T_{0->1}}`` ``[B,4,4]``.
"""

from __future__ import annotations

import torch

SOURCE_FRAMES = (-1, 1)


def _shape(tensor: torch.Tensor | None):
    return None if tensor is None else tuple(tensor.shape)


def checked_frames(inputs: dict, scale: int = 0, size=None) -> torch.Tensor:
    """``color_{scale}`` ``[B,3,3,h,w]`` (frames ``[0, -1, 1]``), checked against ``size = (h, w)`` when given."""
    colour = inputs.get(f"color_{scale}")
    if (colour is None or colour.dim() != 5 or colour.shape[1:3] != (3, 3)
            or (size is not None and tuple(colour.shape[-2:]) != tuple(size))):
        expected = "H,W" if size is None else f"{size[0]},{size[1]}"
        raise ValueError(f"inputs['color_{scale}']: expected [B,3,3,{expected}] frames in the order [0, -1, 1], "
                         f"got {_shape(colour)}")
    return colour.float()


def checked_intrinsics(inputs: dict, scale: int, b: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(K_{scale}, inv_K_{scale})``, each ``[B,3,3]`` (the upper-left block of a ``[B,4,4]``)."""
    intrinsics = []
    for key in (f"K_{scale}", f"inv_K_{scale}"):
        mat = inputs.get(key)
        if mat is None or mat.dim() != 3 or mat.shape[0] != b or mat.shape[-2:] not in ((3, 3), (4, 4)):
            raise ValueError(f"inputs[{key!r}]: expected [B,3,3] with B={b}, got {_shape(mat)}")
        intrinsics.append(mat[:, :3, :3].float())
    return intrinsics[0], intrinsics[1]


def checked_transforms(poses: dict, b: int) -> torch.Tensor:
    """Source transforms ``T_{0->f}`` stacked ``[F,B,4,4]`` in ``SOURCE_FRAMES`` order."""
    transforms = []
    for frame in SOURCE_FRAMES:
        pose = poses.get(frame)
        if pose is None or tuple(pose.shape) != (b, 4, 4):
            raise ValueError(f"poses[{frame}]: expected T_{{0->{frame}}} of shape [{b},4,4], got {_shape(pose)}")
        transforms.append(pose.float())
    return torch.stack(transforms)


def checked_disparity(outputs: dict, scale: int, shape) -> torch.Tensor:
    """``outputs["disp"][scale]`` of shape ``shape``."""
    disps = outputs.get("disp")
    if disps is None or scale >= len(disps) or tuple(disps[scale].shape) != tuple(shape):
        got = None if disps is None or scale >= len(disps) else tuple(disps[scale].shape)
        raise ValueError(f"outputs['disp'][{scale}]: expected shape {list(shape)}, got {got}")
    return disps[scale].float()


def checked_coarse_disparity(outputs: dict, leading) -> torch.Tensor:
    """``outputs["coarse_disp"]`` ``[*leading,h,w]``."""
    coarse = outputs.get("coarse_disp")
    if coarse is None or coarse.dim() != 5 or tuple(coarse.shape[:3]) != tuple(leading):
        raise ValueError(f"outputs['coarse_disp']: expected [{', '.join(map(str, leading))},h,w], got "
                         f"{_shape(coarse)}")
    return coarse.float()


def checked_teacher_disparity(teacher_disp: torch.Tensor | None, shape, when: str) -> torch.Tensor:
    """The teacher's sigmoid disparity of shape ``shape`` (``when`` says why it is needed, for the error)."""
    if teacher_disp is None or tuple(teacher_disp.shape) != tuple(shape):
        raise ValueError(f"teacher_disp: expected the teacher's sigmoid disparity {list(shape)} {when}, got "
                         f"{_shape(teacher_disp)}")
    return teacher_disp.detach().float()
