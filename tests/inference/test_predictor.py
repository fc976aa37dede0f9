"""Predictor: streaming and offline batches equal the naive per-triplet forward; end modes, latency, poses,
checkpoint errors."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from tcdepth.data.intrinsics import Intrinsics
from tcdepth.geometry import disp_to_depth, pose_vec_to_mat
from tcdepth.inference import Predictor
from tcdepth.models import ModelConfig, build_model, save_weights

from .clip import FRAME_HEIGHT, FRAME_WIDTH, NET_HEIGHT, NET_WIDTH, clip_frames

CAMERA = Intrinsics(120.0, 110.0, 95.5, 31.5, FRAME_WIDTH, FRAME_HEIGHT)


def network_input(frame: np.ndarray) -> torch.Tensor:
    resized = Image.fromarray(frame).resize((NET_WIDTH, NET_HEIGHT), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0).permute(2, 0, 1)


def depth_at_frame_size(disp: torch.Tensor, cfg: ModelConfig) -> np.ndarray:
    scaled = disp_to_depth(disp, cfg.min_depth, cfg.max_depth)[0]
    scaled = F.interpolate(scaled, size=(FRAME_HEIGHT, FRAME_WIDTH), mode="bilinear", align_corners=False)
    return (1.0 / scaled)[0, 0].numpy()


def naive_depths(model, cfg, frames, neighbours) -> list[np.ndarray]:
    """Full forward (encoder on all three frames, all views decoded) of each triplet ``(t, prev, next)``."""
    images = [network_input(f) for f in frames]
    K = CAMERA.K_for(NET_HEIGHT, NET_WIDTH)[None]
    out = []
    with torch.no_grad():
        for t, (prev, nxt) in enumerate(neighbours):
            triplet = torch.stack([images[t], images[prev], images[nxt]])[None]
            out.append(depth_at_frame_size(model(triplet, K)["disp"][0][:, 0], cfg))
    return out


@pytest.fixture(scope="module")
def tiny(run_dir):
    predictor = Predictor.from_checkpoint(run_dir, intrinsics=CAMERA)
    return predictor


def test_run_dir_gives_network_size_and_pose_net(tiny):
    assert (tiny.height, tiny.width) == (NET_HEIGHT, NET_WIDTH)
    assert tiny.pose_net is not None and not tiny.single_frame


@pytest.mark.parametrize("attention_impl", ["chunked", "dense"])
def test_streaming_equals_naive_triplets_with_mirrored_ends(run_dir, attention_impl):
    """Streaming computes each frame's context (coarse depth, attention kernel, first spatial block) once and
    restacks it for the three triplets of the frame; the naive forward computes every triplet from its images."""
    predictor = Predictor.from_checkpoint(run_dir, intrinsics=CAMERA)
    predictor.depth_net.st_module.impl = attention_impl  # the dense kernel's weights are part of the context
    frames = clip_frames(5)
    results = predictor.predict(frames)
    assert [r.index for r in results] == [0, 1, 2, 3, 4]
    expected = naive_depths(predictor.depth_net, predictor.model_cfg, frames,
                            [(1, 1), (0, 2), (1, 3), (2, 4), (3, 3)])
    for result, reference in zip(results, expected, strict=True):
        assert result.depth.shape == (FRAME_HEIGHT, FRAME_WIDTH)
        np.testing.assert_allclose(result.depth, reference, rtol=1e-4)


def test_duplicate_mode_warns_and_uses_the_centre_frame(run_dir, caplog):
    predictor = Predictor.from_checkpoint(run_dir, intrinsics=CAMERA, end_mode="duplicate")
    frames = clip_frames(3)
    with caplog.at_level(logging.WARNING):
        results = predictor.predict(frames)
    assert "duplicate" in caplog.text
    expected = naive_depths(predictor.depth_net, predictor.model_cfg, frames, [(0, 1), (0, 2), (1, 2)])
    for result, reference in zip(results, expected, strict=True):
        np.testing.assert_allclose(result.depth, reference, rtol=1e-4)


def naive_poses(pose_net, frames) -> list[np.ndarray]:
    """Camera-to-first-frame poses chained from the pose network on each consecutive pair."""
    images = [network_input(f)[None] for f in frames]
    poses = [np.eye(4)]
    with torch.no_grad():
        for t in range(1, len(frames)):
            current_to_next = pose_vec_to_mat(*pose_net(images[t - 1], images[t]))[0].double().numpy()
            poses.append(poses[-1] @ np.linalg.inv(current_to_next))
    return poses


@pytest.mark.parametrize("batch_size", [2, 4, 8])
def test_offline_batches_equal_naive_triplets_and_poses(tiny, batch_size):
    """Batches that split the clip at every place, and one batch holding it whole."""
    frames = clip_frames(5)
    results = tiny.predict(frames, batch_size=batch_size)
    assert [r.index for r in results] == [0, 1, 2, 3, 4]
    expected = naive_depths(tiny.depth_net, tiny.model_cfg, frames, [(1, 1), (0, 2), (1, 3), (2, 4), (3, 3)])
    for result, depth, pose in zip(results, expected, naive_poses(tiny.pose_net, frames), strict=True):
        np.testing.assert_allclose(result.depth, depth, rtol=1e-4)
        np.testing.assert_allclose(result.camera_to_world, pose, atol=1e-5)


def test_offline_batches_drop_the_ends_and_refuse_an_empty_batch(run_dir):
    predictor = Predictor.from_checkpoint(run_dir, intrinsics=CAMERA, end_mode="drop")
    assert [r.index for r in predictor.predict(clip_frames(5), batch_size=3)] == [1, 2, 3]
    with pytest.raises(ValueError, match="batch_size"):
        predictor.predict(clip_frames(2), batch_size=0)


def test_push_has_one_frame_of_latency_and_drop_mode_skips_the_ends(run_dir):
    predictor = Predictor.from_checkpoint(run_dir, intrinsics=CAMERA, end_mode="drop")
    frames = clip_frames(4)
    outputs = [predictor.push(f) for f in frames]
    assert outputs[0] is None and outputs[1] is None  # frame 0 is an end frame: dropped
    assert [o.index for o in outputs[2:]] == [1, 2]
    assert predictor.flush() is None


def test_one_frame_clip_cannot_be_mirrored(run_dir):
    predictor = Predictor.from_checkpoint(run_dir, intrinsics=CAMERA)
    predictor.push(clip_frames(1)[0])
    with pytest.raises(ValueError, match="one frame"):
        predictor.flush()
    duplicate = Predictor.from_checkpoint(run_dir, intrinsics=CAMERA, end_mode="duplicate")
    assert len(duplicate.predict(clip_frames(1))) == 1


def test_poses_chain_the_relative_motion(tiny):
    frames = clip_frames(4)
    results = tiny.predict(frames)
    np.testing.assert_allclose(results[0].camera_to_world, np.eye(4), atol=1e-6)
    for result, expected in zip(results, naive_poses(tiny.pose_net, frames), strict=True):
        np.testing.assert_allclose(result.camera_to_world, expected, atol=1e-5)


def test_rescaled_multiplies_depth_and_translation(tiny):
    result = tiny.predict(clip_frames(2))[1]
    scaled = result.rescaled(2.5)
    np.testing.assert_allclose(scaled.depth, 2.5 * result.depth, rtol=1e-6)
    np.testing.assert_allclose(scaled.camera_to_world[:3, 3], 2.5 * result.camera_to_world[:3, 3], rtol=1e-6)
    np.testing.assert_allclose(scaled.camera_to_world[:3, :3], result.camera_to_world[:3, :3])


def test_monodepth2_answers_each_push_at_once(monodepth2_checkpoint):
    predictor = Predictor.from_checkpoint(monodepth2_checkpoint, height=NET_HEIGHT, width=NET_WIDTH,
                                          intrinsics=CAMERA)
    frame = clip_frames(1)[0]
    result = predictor.push(frame)
    assert predictor.single_frame and result is not None and result.index == 0
    with torch.no_grad():
        reference = depth_at_frame_size(predictor.depth_net(network_input(frame)[None])["disp"][0],
                                        predictor.model_cfg)
    np.testing.assert_allclose(result.depth, reference, rtol=1e-4)
    assert predictor.flush() is None
    frames = clip_frames(3)
    with torch.no_grad():
        references = [depth_at_frame_size(predictor.depth_net(network_input(f)[None])["disp"][0], predictor.model_cfg)
                      for f in frames]
    batched = predictor.predict(frames, batch_size=2)
    assert [r.index for r in batched] == [0, 1, 2]
    for result, reference in zip(batched, references, strict=True):
        np.testing.assert_allclose(result.depth, reference, rtol=1e-4)


def test_bf16_on_cpu_is_close_to_fp32(run_dir):
    frames = clip_frames(3)
    fp32 = Predictor.from_checkpoint(run_dir, intrinsics=CAMERA).predict(frames)
    bf16 = Predictor.from_checkpoint(run_dir, intrinsics=CAMERA, precision="bf16").predict(frames)
    for a, b in zip(fp32, bf16, strict=True):
        assert np.isfinite(b.depth).all()
        assert np.median(np.abs(b.depth / a.depth - 1)) < 0.05
    with pytest.raises(ValueError, match="fp16 needs a CUDA"):
        Predictor.from_checkpoint(run_dir, precision="fp16")


def test_default_camera_warns_and_frame_size_must_not_change(run_dir, caplog):
    predictor = Predictor.from_checkpoint(run_dir)
    with caplog.at_level(logging.WARNING):
        predictor.push(clip_frames(1)[0])
    assert "field of view" in caplog.text
    assert predictor.intrinsics.width == FRAME_WIDTH
    with pytest.raises(ValueError, match="earlier frames"):
        predictor.push(np.zeros((32, 32, 3), np.uint8))


def test_checkpoint_errors_name_the_file(run_dir, tmp_path, tiny_cfg):
    with pytest.raises(ValueError, match="pose network"):
        Predictor.from_checkpoint(run_dir / "pose.safetensors")
    other = ModelConfig(architecture="monodepth2", encoder="resnet18")
    wrong = tmp_path / "wrong.safetensors"
    save_weights(build_model(other), tiny_cfg, wrong)  # resnet weights under a drn_tiny config
    with pytest.raises(ValueError, match="wrong.safetensors.*do not match"):
        Predictor.from_checkpoint(wrong)
    with pytest.raises(FileNotFoundError, match="depth.safetensors"):
        Predictor.from_checkpoint(tmp_path)
