"""Motion terms of TC-Depth against a single-frame teacher: the motion mask and the consistency loss."""

from __future__ import annotations

import torch


def motion_mask(student_depth: torch.Tensor, teacher_depth: torch.Tensor, ratio: float = 1.6,
                form: str = "ratio") -> torch.Tensor:
    """1 where student and teacher depth agree (static), else 0.

    ``form="ratio"``: ``max(D_s/D_T, D_T/D_s) < ratio``. ``"relative"`` (the reference's form, the same test up
    to rounding at the threshold): ``(D_s - D_T)/D_T < ratio - 1`` and ``(D_T - D_s)/D_s < ratio - 1``.

    Args:
        student_depth, teacher_depth: ``[B,1,H,W]``, compared raw (no median alignment, as the reference).
    Returns:
        ``[B,1,H,W]`` of 0/1, detached.
    """
    student, teacher = student_depth.detach(), teacher_depth.detach()
    if form == "relative":
        static = ((student - teacher) / teacher < ratio - 1) & ((teacher - student) / student < ratio - 1)
    elif form == "ratio":
        static = torch.maximum(student / teacher, teacher / student) < ratio
    else:
        raise ValueError(f"form: expected 'ratio' or 'relative', got {form!r}")
    return static.to(student_depth.dtype)


def consistency_term(student_depth: torch.Tensor, teacher_depth: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
    """Pull moving pixels to the teacher: ``mean_p[(1 - static) |1/D_s - 1/D_T|]`` (scaled-disparity units).

    Args:
        student_depth: ``[B,1,H,W]``; teacher_depth: ``[B,1,H,W]`` (gets no gradient); static: ``[B,1,H,W]``.
    Returns:
        scalar.
    """
    return ((1 - static) * (1 / student_depth - 1 / teacher_depth.detach()).abs()).mean()
