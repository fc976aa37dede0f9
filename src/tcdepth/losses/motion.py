"""Motion terms of TC-Depth against a single-frame teacher: the motion mask and the consistency loss."""

from __future__ import annotations

import torch


def motion_mask(student_depth: torch.Tensor, teacher_depth: torch.Tensor, ratio: float = 1.6) -> torch.Tensor:
    """1 where student and teacher depth agree, ``max(D_s/D_T, D_T/D_s) < ratio`` (static), else 0.

    Args:
        student_depth, teacher_depth: ``[B,1,H,W]``, compared raw (no median alignment, as the reference).
    Returns:
        ``[B,1,H,W]`` of 0/1, detached.
    """
    student = student_depth.detach()
    disagreement = torch.maximum(student / teacher_depth, teacher_depth / student)
    return (disagreement < ratio).to(student_depth.dtype)


def consistency_term(student_depth: torch.Tensor, teacher_depth: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
    """Pull moving pixels to the teacher: ``mean_p[(1 - static) |1/D_s - 1/D_T|]`` (scaled-disparity units).

    Args:
        student_depth: ``[B,1,H,W]``; teacher_depth: ``[B,1,H,W]`` (gets no gradient); static: ``[B,1,H,W]``.
    Returns:
        scalar.
    """
    return ((1 - static) * (1 / student_depth - 1 / teacher_depth.detach()).abs()).mean()
