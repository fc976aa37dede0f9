"""Spatial-temporal attention of TC-Depth (spec sections 2 and 3).

* Spatial attention is geometry-guided: the coarse depth of each view is back-projected with the intrinsics scaled to
  the feature grid, and each position aggregates the values of all positions of the same view with weights
  ``softmax_i(-||P_j - P_i|| / (2 sigma))`` (the reference's column-normalised kernel ``exp(-d / (2 sigma))``).
  :class:`GeometricKernel` evaluates this either in query chunks with a custom backward that keeps no ``N x N``
  matrix (the distances are detached, so the only gradient goes to the values), or densely: the ``N x N`` weights
  are built once per forward and each block is one batched matrix product with them.
* Temporal attention lets every view attend to each of the two other views (shared query/key projection), with all
  six (query view, key view) pairs batched into one ``scaled_dot_product_attention`` call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tcdepth.geometry import backproject, invert_intrinsics, scale_intrinsics

ATTENTION_IMPLS = ("auto", "chunked", "dense")


def feature_points(depth: torch.Tensor, K: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    """Back-project a feature-grid depth map with the image intrinsics scaled to that grid.

    Args:
        depth: ``[B,1,h,w]`` depth on the feature grid.
        K: ``[B,3,3]`` pixel intrinsics of the ``image_size = (H, W)`` input image.
    Returns:
        points ``[B,N,3]``, ``N = h*w`` in row-major order.
    """
    h, w = depth.shape[-2:]
    K_feat = scale_intrinsics(K.float(), w / image_size[1], h / image_size[0])
    points = backproject(depth.float(), invert_intrinsics(K_feat))
    return points.flatten(2).transpose(1, 2)


def kernel_logits(query_points: torch.Tensor, points: torch.Tensor, sigma: float) -> torch.Tensor:
    """``-||q_j - p_i|| / (2 sigma)``: ``[B,Q,3]``, ``[B,N,3]`` -> ``[B,Q,N]`` (exact distances, float32).

    Coordinate differences are squared and summed (no ``|q|^2 + |p|^2 - 2 q.p`` cancellation); plain elementwise
    kernels, since ``torch.cdist``'s exact mode is a slow generic kernel on CUDA. No gradient flows.
    """
    q, p = query_points.detach().float(), points.detach().float()
    squared = (q[:, :, None, 0] - p[:, None, :, 0]).square_()
    for axis in (1, 2):
        squared += (q[:, :, None, axis] - p[:, None, :, axis]).square_()
    return squared.sqrt_().mul_(-0.5 / sigma)


def kernel_weights(query_points: torch.Tensor, points: torch.Tensor, sigma: float) -> torch.Tensor:
    """The normalised kernel ``softmax_i(-||q_j - p_i|| / (2 sigma))``: ``[B,Q,3]``, ``[B,N,3]`` -> ``[B,Q,N]``
    (float32; rows sum to 1)."""
    return torch.softmax(kernel_logits(query_points, points, sigma), dim=-1)


class _ChunkedKernelAggregation(torch.autograd.Function):
    """``out = V @ softmax(logits)^T`` evaluated in query chunks; saves only the points (O(N) memory)."""

    @staticmethod
    def forward(ctx, points, values, sigma, chunk_size):
        out = torch.empty_like(values)
        for start in range(0, points.shape[1], chunk_size):
            weights = kernel_weights(points[:, start:start + chunk_size], points, sigma)
            out[:, :, start:start + chunk_size] = values @ weights.transpose(1, 2).to(values.dtype)
        ctx.save_for_backward(points)
        ctx.sigma, ctx.chunk_size = sigma, chunk_size
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (points,) = ctx.saved_tensors
        grad_values = None
        for start in range(0, points.shape[1], ctx.chunk_size):
            weights = kernel_weights(points[:, start:start + ctx.chunk_size], points, ctx.sigma)
            part = grad_out[:, :, start:start + ctx.chunk_size] @ weights.to(grad_out.dtype)
            grad_values = part if grad_values is None else grad_values + part
        return None, grad_values, None, None


class GeometricKernel:
    """The spatial attention kernel of one forward pass, built once from the points and shared by all blocks.

    Args:
        points: ``[B,N,3]`` 3D points of each view (no gradient flows into them).
        sigma: kernel scale; weights are ``softmax_i(-||P_j - P_i|| / (2 sigma))``.
        impl: ``"chunked"`` (query chunks, custom backward, linear memory), ``"dense"`` (the ``[B,N,N]`` weights
            built once and kept for all blocks; each block is one batched matrix product), or ``"auto"`` (dense
            on CUDA, chunked elsewhere; see docs/models.md for the measurements).
        chunk_size: queries per chunk for the chunked path.
    """

    def __init__(self, points: torch.Tensor, sigma: float, impl: str = "auto", chunk_size: int = 512):
        if impl not in ATTENTION_IMPLS:
            raise ValueError(f"attention impl must be one of {ATTENTION_IMPLS}, got {impl!r}")
        if points.dim() != 3 or points.shape[-1] != 3:
            raise ValueError(f"points must be [B,N,3], got {tuple(points.shape)}")
        self.points = points.detach()
        self.sigma = sigma
        self.impl = ("dense" if points.is_cuda else "chunked") if impl == "auto" else impl
        self.chunk_size = chunk_size
        self._weights: dict[torch.dtype, torch.Tensor] = {}

    def aggregate(self, values: torch.Tensor) -> torch.Tensor:
        """``F_j = sum_i W_ji V_i``: values ``[B,C,N]`` -> ``[B,C,N]``."""
        if self.impl == "chunked":
            return _ChunkedKernelAggregation.apply(self.points, values, self.sigma, self.chunk_size)
        return values @ self.weights(values.dtype).transpose(1, 2)

    def weights(self, dtype: torch.dtype) -> torch.Tensor:
        """The normalised kernel ``W = softmax_i(-d_ji/(2 sigma))`` ``[B,N,N]`` (rows: queries j), in ``dtype``.

        Built in float32 query chunks on first use and kept (one copy per dtype) for every block of the forward
        pass, so that autograd saves a single ``N x N`` tensor however many blocks use it.
        """
        if dtype not in self._weights:
            b, n, _ = self.points.shape
            weights = self.points.new_empty(b, n, n, dtype=dtype)
            for start in range(0, n, self.chunk_size):  # query chunks bound the float32 temporaries
                chunk = self.points[:, start:start + self.chunk_size]
                weights[:, start:start + self.chunk_size] = kernel_weights(chunk, self.points, self.sigma)
            self._weights[dtype] = weights
        return self._weights[dtype]

    def state(self) -> list[torch.Tensor]:
        """``[points, *weights built so far]``: what :meth:`from_state` needs to rebuild this kernel without
        recomputing its weights (per-frame tensors with a leading view axis, so that frames can be restacked)."""
        return [self.points, *self._weights.values()]

    @classmethod
    def from_state(cls, state: list[torch.Tensor], sigma: float, impl: str = "auto",
                   chunk_size: int = 512) -> GeometricKernel:
        """The kernel of :meth:`state` (possibly restacked from several frames' states)."""
        kernel = cls(state[0], sigma, impl, chunk_size)
        kernel._weights.update({weights.dtype: weights for weights in state[1:]})
        return kernel

    def raw_kernel(self, index: slice | int = slice(None)) -> torch.Tensor:
        """Unnormalised kernel ``exp(-d/(2 sigma))`` ``[b,N,N]`` of the views ``points[index]`` (for logging)."""
        pts = self.points[index]
        pts = pts.unsqueeze(0) if pts.dim() == 2 else pts
        return kernel_logits(pts, pts, self.sigma).exp()


class SpatialAttention(nn.Module):
    """One geometry-guided spatial attention block (spec 2.2) on views folded into the batch ``[B',C,h,w]``."""

    def __init__(self, channels: int, gamma_init: float = 0.7):
        super().__init__()
        self.value = nn.Conv2d(channels, channels, 1)
        self.project_context = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels))
        self.project_input = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels))
        self.fuse = nn.Sequential(nn.Conv2d(2 * channels, channels, 1), nn.BatchNorm2d(channels))
        self.gamma = nn.Parameter(torch.tensor(float(gamma_init)))

    def forward(self, x: torch.Tensor, kernel: GeometricKernel) -> torch.Tensor:
        b, c, h, w = x.shape
        context = kernel.aggregate(self.value(x).reshape(b, c, h * w)).reshape(b, c, h, w)
        fused = self.fuse(torch.cat([self.project_context(context), self.project_input(x)], dim=1))
        return self.gamma * fused + x


class TemporalAttention(nn.Module):
    """One temporal attention block (spec 3.1) on the three views ``[B,3,C,h,w]`` (order 0, -1, +1).

    Each view attends separately to each of the two others (view ``v`` to ``v+1`` and ``v+2`` modulo 3,
    :func:`other_views`); the two contexts are summed and fused with the view by a 1x1 conv on ``concat[X_r, M_r]``
    with a plain residual.
    """

    def __init__(self, channels: int, reduction: int = 8, norm_per_view: bool = False):
        super().__init__()
        reduced = max(1, channels // reduction)
        self.query_key = nn.Sequential(nn.Conv2d(channels, reduced, 1), nn.BatchNorm2d(reduced))
        self.value = nn.Conv2d(channels, reduced, 1)
        self.out = nn.Conv2d(reduced, channels, 1)
        self.fuse = nn.Conv2d(2 * channels, channels, 1)
        self.norm_per_view = norm_per_view

    def _query_key(self, x: torch.Tensor) -> torch.Tensor:
        """The shared query/key projection ``[B,3,C,h,w]`` -> ``[B*3,C',h,w]``; with ``norm_per_view`` its
        BatchNorm sees each view's batch separately (batch statistics per view in training)."""
        b, v, c, h, w = x.shape
        if not self.norm_per_view:
            return self.query_key(x.reshape(b * v, c, h, w))
        conv, norm = self.query_key
        projected = conv(x.reshape(b * v, c, h, w)).unflatten(0, (b, v))
        return torch.stack([norm(projected[:, view]) for view in range(v)], dim=1).flatten(0, 1)

    def _project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, v, c, h, w = x.shape
        folded = x.reshape(b * v, c, h, w)
        # Contiguous [B,3,N,C'] so that SDPA can pick its fused (memory-efficient) kernels on CUDA.
        qk = self._query_key(x).reshape(b, v, -1, h * w).transpose(2, 3).contiguous()
        val = self.value(folded).reshape(b, v, -1, h * w).transpose(2, 3).contiguous()
        return qk, val  # [B,3,N,C']

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, v, c, h, w = x.shape
        if v != 3:
            raise ValueError(f"temporal attention expects 3 views [B,3,C,h,w], got {tuple(x.shape)}")
        qk, val = self._project(x)
        queries = qk.unsqueeze(2).expand(-1, -1, 2, -1, -1).flatten(1, 2)
        context = F.scaled_dot_product_attention(queries, other_views(qk), other_views(val))
        context = self.out(context.transpose(2, 3).reshape(b * 6, -1, h, w))
        summed = context.reshape(b, 3, 2, c, h, w).sum(dim=2)
        fused = self.fuse(torch.cat([x, summed], dim=2).reshape(b * 3, 2 * c, h, w))
        return x + fused.reshape(b, 3, c, h, w)

    def centre_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Attention maps ``A^{0->-1}, A^{0->+1}`` ``[B,2,N,N]`` (rows sum to 1), for logging."""
        qk, _ = self._project(x)
        scores = qk[:, :1] @ qk[:, 1:].transpose(2, 3) / math.sqrt(qk.shape[-1])
        return torch.softmax(scores, dim=-1)


def other_views(features: torch.Tensor) -> torch.Tensor:
    """For each of three views, the two others: ``[B,3,...]`` -> ``[B,6,...]`` holding views ``1, 2 | 2, 0 | 0, 1``
    (view ``v`` is followed by ``v+1`` and ``v+2`` modulo 3).

    Two copies in all, forward and backward; picking the six views one by one costs a kernel per view and its
    gradient in backward.
    """
    if features.shape[1] != 3:
        raise ValueError(f"expected 3 views [B,3,...], got {tuple(features.shape)}")
    cyclic = torch.cat((features, features[:, :2]), dim=1)  # views 0, 1, 2, 0, 1
    return torch.stack((cyclic[:, 1:4], cyclic[:, 2:5]), dim=2).flatten(1, 2)


class SpatialTemporalModule(nn.Module):
    """``num_blocks`` x (spatial attention, then temporal attention), separate weights (spec 3.2).

    Args:
        channels: width of the context feature.
        use_spatial / use_temporal: ablation switches (a disabled half is not built).
        sigma: spatial kernel scale of every block, or one per block (blocks with the same scale share a kernel).
        norm_per_view: temporal query/key BatchNorm per view (:class:`TemporalAttention`).
    """

    def __init__(self, channels: int, num_blocks: int = 3, use_spatial: bool = True, use_temporal: bool = True,
                 sigma: float | Sequence[float] = 0.25, gamma_init: float = 0.7, reduction: int = 8,
                 impl: str = "auto", chunk_size: int = 512, norm_per_view: bool = False):
        super().__init__()
        if impl not in ATTENTION_IMPLS:
            raise ValueError(f"attention impl must be one of {ATTENTION_IMPLS}, got {impl!r}")
        sigmas = (float(sigma),) * num_blocks if isinstance(sigma, (int, float)) else tuple(map(float, sigma))
        if len(sigmas) != num_blocks:
            raise ValueError(f"expected one sigma or {num_blocks} (one per block), got {len(sigmas)}")
        self.use_spatial, self.use_temporal = use_spatial, use_temporal
        self.sigmas, self.impl, self.chunk_size = sigmas, impl, chunk_size
        self.spatial = nn.ModuleList(SpatialAttention(channels, gamma_init) for _ in range(num_blocks)) \
            if use_spatial else None
        self.temporal = nn.ModuleList(TemporalAttention(channels, reduction, norm_per_view)
                                      for _ in range(num_blocks)) if use_temporal else None
        self.num_blocks = num_blocks

    def forward(self, x: torch.Tensor, points: torch.Tensor | None = None, return_attention: bool = False):
        """Fuse the context features of the three views: :meth:`per_frame`, then :meth:`across_frames`.

        Args:
            x: ``[B,3,C,h,w]`` context features (order 0, -1, +1).
            points: ``[B*3,N,3]`` back-projected coarse depth of each view (batch-major: index ``b*3 + v``);
                required when spatial attention is on.
            return_attention: also return the maps for logging (built only then).
        Returns:
            ``(fused [B,3,C,h,w], attention)`` where attention is None or a dict with ``"spatial"`` ``[B,N,N]``
            (raw kernel of the last block, centre view) and/or ``"temporal"`` ``[B,2,N,N]`` (first block, centre
            view).
        """
        b, v = x.shape[:2]
        first, kernel_state = self.per_frame(x.flatten(0, 1), points)
        return self.across_frames(first.unflatten(0, (b, v)), kernel_state, return_attention)

    def per_frame(self, x: torch.Tensor, points: torch.Tensor | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """What depends on one frame only: the first spatial block (each position attends within its own frame).

        Args:
            x: ``[N,C,h,w]`` context features of N frames; points: ``[N,h*w,3]`` (spatial attention on).
        Returns:
            ``(x after the first spatial block [N,C,h,w], kernel state)``: the state (``GeometricKernel.state`` of
            the first block's kernel, tensors ``[N,...]``; empty without spatial attention or blocks) lets
            :meth:`across_frames` reuse the frames' kernels, so a stream computes each frame's kernel and first
            block once.
        """
        if not self.use_spatial or self.num_blocks == 0:
            return x, []
        n, _, h, w = x.shape
        if points is None or points.shape != (n, h * w, 3):
            raise ValueError(f"spatial attention needs points [N,h*w,3] = {(n, h * w, 3)}, got "
                             f"{None if points is None else tuple(points.shape)}")
        kernel = GeometricKernel(points, self.sigmas[0], self.impl, self.chunk_size)
        return self.spatial[0](x, kernel), kernel.state()

    def across_frames(self, x: torch.Tensor, kernel_state: list[torch.Tensor], return_attention: bool = False):
        """The blocks after :meth:`per_frame`: temporal attention, then the remaining spatial-temporal blocks.

        Args:
            x: ``[B,3,C,h,w]`` output of :meth:`per_frame` for the three views (order 0, -1, +1).
            kernel_state: the views' kernel states, each ``[B*3,...]`` (batch-major: index ``b*3 + v``).
        Returns:
            as :meth:`forward`.
        """
        b, v, c, h, w = x.shape
        kernels: dict[float, GeometricKernel] = {}
        if kernel_state:
            kernels[self.sigmas[0]] = GeometricKernel.from_state(kernel_state, self.sigmas[0], self.impl,
                                                                 self.chunk_size)
        attention = {} if return_attention else None
        for index in range(self.num_blocks):
            if self.spatial is not None and index > 0:
                kernel = self._kernel(kernels, index)
                x = self.spatial[index](x.reshape(b * v, c, h, w), kernel).reshape(b, v, c, h, w)
            if self.temporal is not None:
                if return_attention and index == 0:
                    attention["temporal"] = self.temporal[index].centre_maps(x)
                x = self.temporal[index](x)
        if return_attention and kernels:
            attention["spatial"] = self._kernel(kernels, self.num_blocks - 1).raw_kernel(slice(0, None, v))
        return x, attention

    def _kernel(self, kernels: dict[float, GeometricKernel], index: int) -> GeometricKernel:
        """The kernel of block ``index`` from ``kernels`` (keyed by sigma), built from the first one's points when
        its sigma is new."""
        sigma = self.sigmas[index]
        if sigma not in kernels:
            points = kernels[self.sigmas[0]].points
            kernels[sigma] = GeometricKernel(points, sigma, self.impl, self.chunk_size)
        return kernels[sigma]
