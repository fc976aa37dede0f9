"""ONNX export: onnxruntime matches PyTorch for the triplet and the single-frame model at several batch sizes."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import torch

from tcdepth.cli.main import main
from tcdepth.geometry import disp_to_depth
from tcdepth.models import load_weights

from .clip import NET_HEIGHT, NET_WIDTH


def test_triplet_model_matches_pytorch_with_dynamic_batch(run_dir, tmp_path):
    out = tmp_path / "tcdepth.onnx"
    assert main(["export", "--onnx", str(run_dir), str(out)]) == 0
    model, cfg = load_weights(run_dir / "depth.safetensors")
    model.eval()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["frames", "K"]
    K = torch.tensor([[80.0, 0, 47.5], [0, 80.0, 31.5], [0, 0, 1]])
    for batch in (1, 3):
        frames = torch.rand(batch, 3, 3, NET_HEIGHT, NET_WIDTH, generator=torch.Generator().manual_seed(batch))
        Kb = K.expand(batch, 3, 3).contiguous()
        disp, depth = session.run(None, {"frames": frames.numpy(), "K": Kb.numpy()})
        with torch.no_grad():
            reference = model(frames, Kb)["disp"][0][:, 0]
        np.testing.assert_allclose(disp, reference.numpy(), atol=1e-4)
        np.testing.assert_allclose(depth, disp_to_depth(reference, cfg.min_depth, cfg.max_depth)[1].numpy(),
                                   rtol=1e-3)


def test_single_frame_model_matches_pytorch(monodepth2_checkpoint, tmp_path):
    out = tmp_path / "md2.onnx"
    assert main(["export", "--onnx", str(monodepth2_checkpoint), str(out), "--height", "64", "--width", "96"]) == 0
    model, _ = load_weights(monodepth2_checkpoint)
    model.eval()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    image = torch.rand(2, 3, 64, 96)
    disp, _ = session.run(None, {"image": image.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(disp, model(image)["disp"][0].numpy(), atol=1e-4)


def test_pose_checkpoint_is_refused(run_dir, tmp_path, capsys):
    assert main(["export", "--onnx", str(run_dir / "pose.safetensors"), str(tmp_path / "p.onnx")]) == 1
    assert "pose network" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
