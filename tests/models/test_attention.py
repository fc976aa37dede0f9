"""Attention modules against naive formulas written out here (fp32, forward and backward)."""

import math

import pytest
import torch

from tcdepth.geometry import make_intrinsics
from tcdepth.models.attention import (
    GeometricKernel,
    SpatialTemporalModule,
    TemporalAttention,
    feature_points,
    other_views,
)


def naive_spatial_aggregation(points, values, sigma):
    """Reference: F_j = sum_i V_i A_ij / sum_i A_ij with A_ij = exp(-||P_i - P_j|| / (2 sigma))."""
    diff = points[:, :, None, :] - points[:, None, :, :]
    dist = torch.sqrt((diff**2).sum(-1))
    kernel = torch.exp(-dist / (2 * sigma))
    return torch.einsum("bci,bij->bcj", values, kernel / kernel.sum(dim=1, keepdim=True))


@pytest.mark.parametrize("impl,chunk,channels", [("chunked", 7, 6), ("chunked", 64, 6), ("chunked", 1000, 6),
                                                 ("dense", 0, 6), ("dense", 0, 128)])
def test_spatial_kernel_matches_naive_formula_and_gradient(impl, chunk, channels):
    gen = torch.Generator().manual_seed(0)
    # Depth-like points: spread of a few units so that the kernel is neither uniform nor one-hot.
    points = torch.randn(2, 45, 3, generator=gen) * 0.6 + torch.tensor([0.0, 0.0, 5.0])
    values = torch.randn(2, channels, 45, generator=gen, requires_grad=True)
    upstream = torch.randn(2, channels, 45, generator=gen)
    out = GeometricKernel(points, 0.25, impl, chunk_size=max(chunk, 1)).aggregate(values)
    (grad,) = torch.autograd.grad((out * upstream).sum(), values)
    ref = naive_spatial_aggregation(points, values, 0.25)
    (ref_grad,) = torch.autograd.grad((ref * upstream).sum(), values)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-5)


def test_chunked_kernel_saves_no_quadratic_tensor():
    n = 600
    points = torch.randn(1, n, 3)
    values = torch.randn(1, 4, n, requires_grad=True)
    saved = []

    def pack(t):
        saved.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        GeometricKernel(points, 0.25, "chunked", chunk_size=50).aggregate(values)
    assert saved and max(saved) <= 3 * n


def test_feature_points_scale_intrinsics_to_grid():
    # Non-KITTI camera at 256x384, feature grid 32x48 (1/8): pixel (u, v) of the grid sees the ray through the
    # image pixel (8u, 8v) under the "multiply rows 0 and 1" convention.
    K = make_intrinsics(300.0, 280.0, 200.0, 100.0).unsqueeze(0)
    depth = torch.full((1, 1, 32, 48), 2.0)
    points = feature_points(depth, K, (256, 384))
    u, v = 10, 5
    p = points[0, v * 48 + u]
    expected = torch.tensor([2.0 * (8 * u - 200.0) / 300.0, 2.0 * (8 * v - 100.0) / 280.0, 2.0])
    torch.testing.assert_close(p, expected)


def naive_temporal(block, x):
    """Reference of spec 3.1, one (query view, key view) pair at a time with explicit softmax."""
    b, v, c, h, w = x.shape
    phi = lambda t: block.query_key(t).flatten(2).transpose(1, 2)  # noqa: E731  [B,N,C']
    psi = lambda t: block.value(t).flatten(2).transpose(1, 2)  # noqa: E731
    outputs = []
    for r in range(3):
        q = phi(x[:, r])
        summed = 0
        for a in [i for i in range(3) if i != r]:
            att = torch.softmax(q @ phi(x[:, a]).transpose(1, 2) / math.sqrt(q.shape[-1]), dim=-1)
            ctx = (att @ psi(x[:, a])).transpose(1, 2).reshape(b, -1, h, w)
            summed = summed + block.out(ctx)
        outputs.append(x[:, r] + block.fuse(torch.cat([x[:, r], summed], dim=1)))
    return torch.stack(outputs, dim=1)


def test_temporal_attention_matches_naive_formula_and_gradient():
    torch.manual_seed(0)
    block = TemporalAttention(16, reduction=4).eval()  # eval: BN uses running stats in both paths
    with torch.no_grad():
        block.query_key[1].running_mean.normal_()
        block.query_key[1].running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 3, 16, 4, 5, requires_grad=True)
    upstream = torch.randn(2, 3, 16, 4, 5)
    out = block(x)
    grads = torch.autograd.grad((out * upstream).sum(), [x, *block.parameters()])
    ref = naive_temporal(block, x)
    ref_grads = torch.autograd.grad((ref * upstream).sum(), [x, *block.parameters()])
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for g, rg in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, rg, rtol=1e-4, atol=1e-5)


def test_other_views_lists_the_two_other_views_of_each_view():
    features = torch.arange(3.0).reshape(1, 3, 1).expand(2, 3, 4).requires_grad_()
    picked = other_views(features)
    assert picked[:, :, 0].tolist() == [[1.0, 2.0, 2.0, 0.0, 0.0, 1.0]] * 2
    picked.sum().backward()
    assert torch.equal(features.grad, torch.full((2, 3, 4), 2.0))  # every view is a key twice
    with pytest.raises(ValueError, match=r"3 views"):
        other_views(torch.zeros(1, 2, 4))


def test_temporal_centre_maps_are_row_stochastic():
    block = TemporalAttention(16, reduction=4).eval()
    maps = block.centre_maps(torch.randn(2, 3, 16, 4, 5))
    assert maps.shape == (2, 2, 20, 20)
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 2, 20))


def test_st_module_builds_maps_only_when_asked_and_rejects_missing_points():
    module = SpatialTemporalModule(16, num_blocks=2, reduction=4).eval()
    x = torch.randn(2, 3, 16, 4, 5)
    points = torch.randn(6, 20, 3) + torch.tensor([0.0, 0.0, 4.0])
    fused, attention = module(x, points)
    assert fused.shape == x.shape and attention is None
    _, attention = module(x, points, return_attention=True)
    assert attention["spatial"].shape == (2, 20, 20) and attention["temporal"].shape == (2, 2, 20, 20)
    # Raw kernel of the centre view (view 0 of each sample): unit diagonal, symmetric.
    torch.testing.assert_close(attention["spatial"].diagonal(dim1=1, dim2=2), torch.ones(2, 20))
    torch.testing.assert_close(attention["spatial"], attention["spatial"].transpose(1, 2))
    with pytest.raises(ValueError, match="points"):
        module(x, None)


def test_st_module_per_frame_then_across_frames_is_the_same_for_both_kernels_and_any_frame_order():
    """Dense (weights built in the frames' pass and handed on in the kernel state) and chunked (weights
    recomputed from the points) kernels are two evaluations of one formula; computing the frames' part in a
    different order and restacking it must not matter either."""
    torch.manual_seed(0)
    module = SpatialTemporalModule(16, num_blocks=3, reduction=4).eval()
    x = torch.randn(2, 3, 16, 4, 5)
    points = torch.randn(6, 20, 3) + torch.tensor([0.0, 0.0, 4.0])
    outputs = {}
    for impl in ("dense", "chunked"):
        module.impl = impl
        with torch.no_grad():
            outputs[impl] = module(x, points)[0]
            # the frames one by one, in reverse order, restacked into the triplets
            parts = [module.per_frame(x.flatten(0, 1)[i:i + 1], points[i:i + 1]) for i in reversed(range(6))][::-1]
            first = torch.cat([p[0] for p in parts]).unflatten(0, (2, 3))
            state = [torch.cat(tensors) for tensors in zip(*(p[1] for p in parts), strict=True)]
            torch.testing.assert_close(module.across_frames(first, state)[0], outputs[impl])
    assert len(state) == 1  # chunked: the points only; dense also hands on its weights
    torch.testing.assert_close(outputs["dense"], outputs["chunked"], rtol=1e-5, atol=1e-5)


def test_st_module_uses_each_blocks_sigma_and_reports_the_last_blocks_kernel():
    """Per-block sigmas (an imported checkpoint's sigma_3d): each spatial block aggregates with its own kernel, in
    both kernel implementations; the logged map is the last block's raw kernel exp(-d / (2 sigma))."""
    torch.manual_seed(0)
    sigmas = (0.2, 0.9)
    module = SpatialTemporalModule(8, num_blocks=2, use_temporal=False, sigma=sigmas).eval()
    x = torch.randn(1, 3, 8, 4, 5)
    points = torch.randn(3, 20, 3) * 0.5 + torch.tensor([0.0, 0.0, 4.0])
    expected = x.flatten(0, 1)
    for block, sigma in zip(module.spatial, sigmas, strict=True):
        values = block.value(expected).flatten(2)
        context = naive_spatial_aggregation(points, values, sigma).reshape(expected.shape)
        fused = block.fuse(torch.cat([block.project_context(context), block.project_input(expected)], dim=1))
        expected = block.gamma * fused + expected
    for impl in ("dense", "chunked"):
        module.impl = impl
        with torch.no_grad():
            fused, attention = module(x, points, return_attention=True)
        torch.testing.assert_close(fused, expected.unflatten(0, (1, 3)), rtol=1e-5, atol=1e-5)
    distance = torch.cdist(points[:1].double(), points[:1].double())
    torch.testing.assert_close(attention["spatial"].double(), torch.exp(-distance / (2 * sigmas[1])), rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(ValueError, match="one sigma or 2"):
        SpatialTemporalModule(8, num_blocks=2, sigma=(0.2,))


def test_temporal_norm_per_view_uses_each_views_batch_statistics_in_training():
    """The reference projects one view per call, so in training its BatchNorm normalises each view's batch alone;
    in eval mode both variants are the same affine map."""
    torch.manual_seed(0)
    x = torch.randn(4, 3, 16, 3, 5) * torch.tensor([1.0, 3.0, 0.3]).view(1, 3, 1, 1, 1)  # views differ in scale
    per_view = TemporalAttention(16, reduction=4, norm_per_view=True).train()
    joint = TemporalAttention(16, reduction=4).train()
    joint.load_state_dict(per_view.state_dict())
    conv, norm = per_view.query_key

    def naive_projection(view):
        y = conv(x[:, view])
        mean, var = y.mean(dim=(0, 2, 3), keepdim=True), y.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
        y = (y - mean) / torch.sqrt(var + norm.eps) * norm.weight.view(1, -1, 1, 1) + norm.bias.view(1, -1, 1, 1)
        return y.flatten(2).transpose(1, 2)  # [B,N,C']

    q = naive_projection(0)
    expected = torch.stack([torch.softmax(q @ naive_projection(v).transpose(1, 2) / math.sqrt(q.shape[-1]), dim=-1)
                            for v in (1, 2)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(per_view.centre_maps(x), expected, rtol=1e-4, atol=1e-6)
        assert (joint.centre_maps(x) - expected).abs().max() > 1e-3
        per_view.eval(), joint.eval()
        joint.load_state_dict(per_view.state_dict())  # the training passes updated their running statistics
        torch.testing.assert_close(per_view(x), joint(x))
