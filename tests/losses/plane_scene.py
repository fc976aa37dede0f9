"""A synthetic, exactly consistent triplet: a textured fronto-parallel plane seen by a camera moving along x."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tcdepth.geometry import intrinsics_at_scale

HEIGHT, WIDTH = 24, 48
FX = 16.0
PLANE_DEPTH = 2.0
BASELINE = 0.25  # camera of frame f sits at x = f * BASELINE, so the image moves by FX * BASELINE / Z = 2 px


def texture(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Smooth 3-channel texture ``[3,H,W]`` defined for any real pixel coordinate."""
    return torch.stack([
        0.5 + 0.3 * torch.sin(0.7 * u + 0.3 * v),
        0.5 + 0.25 * torch.cos(0.45 * v - 0.35 * u),
        0.5 + 0.2 * torch.sin(0.5 * u) * torch.cos(0.6 * v),
    ])


def intrinsics(batch: int) -> torch.Tensor:
    K = torch.tensor([[FX, 0.0, (WIDTH - 1) / 2], [0.0, FX, (HEIGHT - 1) / 2], [0.0, 0.0, 1.0]])
    return K.expand(batch, 3, 3).clone()


def translation_pose(batch: int, tx: float) -> torch.Tensor:
    """``T_{0->f}`` for a camera displaced by ``tx`` along x (points move by ``-tx``)."""
    T = torch.eye(4).expand(batch, 4, 4).clone()
    T[:, 0, 3] = -tx
    return T


def sigmoid_disp_for_depth(depth: float) -> float:
    return (1.0 / depth - 0.01) / (10.0 - 0.01)


def make_scene(batch: int = 2, scales=(0, 1, 2, 3)):
    """Batched inputs, TCDepth outputs, poses and teacher disparity that agree exactly."""
    v, u = torch.meshgrid(torch.arange(HEIGHT, dtype=torch.float32), torch.arange(WIDTH, dtype=torch.float32),
                          indexing="ij")
    shift = FX * BASELINE / PLANE_DEPTH
    frames = torch.stack([texture(u + f * shift, v) for f in (0, -1, 1)])  # [3,3,H,W] in order [0,-1,1]
    frames = frames.unsqueeze(0).repeat(batch, 1, 1, 1, 1)
    K = intrinsics(batch)
    inputs = {}
    for s in scales:
        inputs[f"color_{s}"] = F.avg_pool2d(frames.flatten(0, 1), 2**s).unflatten(0, (batch, 3)) if s else frames
        inputs[f"K_{s}"] = intrinsics_at_scale(K, s)
        inputs[f"inv_K_{s}"] = torch.linalg.inv(inputs[f"K_{s}"])
    sigmoid = sigmoid_disp_for_depth(PLANE_DEPTH)
    outputs = {
        "disp": [torch.full((batch, 3, 1, HEIGHT >> s, WIDTH >> s), sigmoid) for s in range(4)],
        "coarse_disp": torch.full((batch, 3, 1, HEIGHT // 8, WIDTH // 8), 1.0 / PLANE_DEPTH),
    }
    poses = {f: translation_pose(batch, f * BASELINE) for f in (-1, 1)}
    teacher = torch.full((batch, 1, HEIGHT, WIDTH), sigmoid)
    return inputs, outputs, poses, teacher
