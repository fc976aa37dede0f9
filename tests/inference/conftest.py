"""Tiny random-weight checkpoints and a short synthetic mp4 clip for the inference tests."""

from __future__ import annotations

import pytest
import torch
import yaml

from tcdepth.models import ModelConfig, build_model, build_pose_net, save_weights

from .clip import NET_HEIGHT, NET_WIDTH, clip_frames, write_mp4


@pytest.fixture(scope="session")
def tiny_cfg() -> ModelConfig:
    return ModelConfig(encoder="drn_tiny", tiny_width=0.125, pose_encoder="resnet18")


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory, tiny_cfg):
    """A run directory with random depth and pose weights and a config giving the 64x96 network size."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("run")
    save_weights(build_model(tiny_cfg), tiny_cfg, path / "depth.safetensors")
    save_weights(build_pose_net(tiny_cfg), tiny_cfg, path / "pose.safetensors")
    (path / "config.yaml").write_text(yaml.safe_dump({"data": {"height": NET_HEIGHT, "width": NET_WIDTH}}))
    return path


@pytest.fixture(scope="session")
def monodepth2_checkpoint(tmp_path_factory):
    torch.manual_seed(1)
    cfg = ModelConfig(architecture="monodepth2", encoder="resnet18")
    path = tmp_path_factory.mktemp("md2") / "depth.safetensors"
    save_weights(build_model(cfg), cfg, path)
    return path


@pytest.fixture(scope="session")
def clip_mp4(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_mp4(path, clip_frames())
    return path
