"""Device-independent costs of a computation: ATen operator calls and peak tensor memory, against closed forms."""

from collections import Counter

import torch

from tcdepth.models.summary import (
    NO_KERNEL_OPERATORS,
    count_operator_calls,
    kernel_operators,
    peak_tensor_bytes,
    storage_bytes,
)


def test_operator_calls_of_forward_and_backward():
    x = torch.rand(1, 2, 5, 5, requires_grad=True)
    w = torch.rand(3, 2, 3, 3, requires_grad=True)

    def step():
        y = torch.nn.functional.conv2d(x.view(1, 2, 25).view(1, 2, 5, 5), w)
        (y * 2).sum().backward()

    _, counts = count_operator_calls(step)
    assert counts == Counter({
        "aten.view": 4,  # the two views of x, and their ViewBackward (grad reshaped back: a view)
        "aten.convolution": 1, "aten.sum": 1,  # forward
        "aten.mul": 2,  # forward y * 2, and MulBackward's grad * 2
        "aten.ones_like": 1,  # backward's seed gradient of the scalar
        "aten.expand": 1,  # SumBackward: the seed expanded to y's shape
        "aten.convolution_backward": 1,  # both gradients in one call
        "aten.detach": 2,  # AccumulateGrad of the two leaves
    })
    assert kernel_operators(counts) == Counter({"aten.convolution": 1, "aten.mul": 2, "aten.sum": 1,
                                                "aten.ones_like": 1, "aten.convolution_backward": 1})
    assert x.grad.shape == x.shape and w.grad.shape == w.shape


def test_no_kernel_operators_exist():
    for name in NO_KERNEL_OPERATORS:
        namespace, op = name.split(".")
        assert hasattr(getattr(torch.ops, namespace), op), name


def test_peak_tensor_bytes_of_known_allocations():
    existing = torch.zeros(10_000)

    def allocate():
        a = torch.zeros(1000)  # 4000 bytes live
        b = torch.ones(500, dtype=torch.float64)  # + 4000 -> 8000 (the peak)
        del a  # 4000
        c = torch.zeros(250, dtype=torch.int16)  # + 500 -> 4500
        views = c[:10], c.view(25, 10), existing[:5]  # views: no new storage
        existing.add_(1)  # in place on a storage made before: not counted
        return b, c, views

    (b, c, _), peak = peak_tensor_bytes(allocate)
    assert peak == 8000
    assert storage_bytes([b, c, c[:3], c.view(10, 25)]) == 4000 + 500


def test_peak_tensor_bytes_of_a_backward():
    n = 4096
    x = torch.rand(n, requires_grad=True)
    seed = torch.ones(n)

    def step():
        y = x * 3  # 4n bytes
        z = y.exp()  # + 4n
        z.backward(seed)  # ExpBackward: grad of y (+ 4n); MulBackward: grad of x (+ 4n), kept as x.grad
        return x.grad

    grad, peak = peak_tensor_bytes(step)
    assert torch.allclose(grad, 3 * torch.exp(3 * x.detach()))
    assert peak == 4 * 4 * n  # y, z and both gradients live together (y and z are locals of step)
