"""CUDA graph replay: same results as the eager calls (CUDA only), and a clear error elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tcdepth.inference import Predictor
from tcdepth.inference.cuda_graph import CudaGraphed

from .clip import NET_HEIGHT, NET_WIDTH, clip_frames
from .test_predictor import CAMERA

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_cuda_graphs_are_refused_off_cuda(run_dir):
    with pytest.raises(ValueError, match="cuda_graphs needs a CUDA device"):
        Predictor.from_checkpoint(run_dir, intrinsics=CAMERA, cuda_graphs=True)
    with pytest.raises(ValueError, match="CUDA tensors only"):
        CudaGraphed(torch.sin)(torch.zeros(2))


@cuda
def test_replay_computes_the_function_on_fresh_inputs_and_keeps_earlier_results():
    layer = torch.nn.Conv2d(3, 8, 3, padding=1).cuda()
    graphed = CudaGraphed(lambda x, y: {"sum": layer(x).relu() + y, "parts": [x * 2]})
    results, inputs = [], []
    for seed in range(3):
        g = torch.Generator(device="cuda").manual_seed(seed)
        x = torch.randn(2, 3, 16, 16, device="cuda", generator=g)
        y = torch.randn(2, 8, 16, 16, device="cuda", generator=g)
        inputs.append((x, y))
        results.append(graphed(x, y))
    with torch.no_grad():
        for (x, y), out in zip(inputs, results, strict=True):
            torch.testing.assert_close(out["sum"], layer(x).relu() + y)
            torch.testing.assert_close(out["parts"][0], x * 2)
    assert len(graphed._graphs) == 1  # one capture for one shape


@cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_predictor_with_cuda_graphs_equals_eager_predictor(run_dir, monodepth2_checkpoint, precision):
    frames = clip_frames(5)
    for checkpoint in (run_dir, monodepth2_checkpoint):
        eager = Predictor.from_checkpoint(checkpoint, device="cuda", precision=precision, intrinsics=CAMERA,
                                          height=NET_HEIGHT, width=NET_WIDTH)
        graphed = Predictor.from_checkpoint(checkpoint, device="cuda", precision=precision, intrinsics=CAMERA,
                                            height=NET_HEIGHT, width=NET_WIDTH, cuda_graphs=True)
        for a, b in zip(eager.predict(frames), graphed.predict(frames), strict=True):
            assert a.index == b.index
            np.testing.assert_allclose(b.depth, a.depth, rtol=1e-5)
