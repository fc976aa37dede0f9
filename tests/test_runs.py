"""The run directory: its layout, run_info.json, and loading what a run holds."""

from __future__ import annotations

import pytest
import torch

from tcdepth.experiment import ExperimentConfig
from tcdepth.models import ModelConfig, build_model, build_pose_net
from tcdepth.runs import Run, load_trained_model


def test_run_info_round_trip_and_missing_fields(tmp_path):
    Run(tmp_path).write_info("cpu", 3, 1.5)
    assert {k: Run(tmp_path).read_info()[k] for k in ("device", "steps", "wall_time_s")} == {
        "device": "cpu", "steps": 3, "wall_time_s": 1.5}
    (tmp_path / "run_info.json").write_text('{"device": "cpu"}')
    with pytest.raises(ValueError, match="run_info.json: missing field"):
        Run(tmp_path).read_info()
    assert Run(tmp_path / "none").read_info() is None


def test_run_of_an_experiment_is_out_dir_slash_name(tmp_path):
    experiment = ExperimentConfig(name="exp")
    experiment.train.out_dir = str(tmp_path / "runs")
    assert Run.of(experiment).path == tmp_path / "runs" / "exp"


def test_saved_networks_load_back_with_the_training_size(tmp_path):
    model_cfg = ModelConfig(encoder="drn_tiny", tiny_width=0.125, num_blocks=1)
    experiment = ExperimentConfig(name="exp", model=model_cfg)
    experiment.data.height, experiment.data.width = 64, 96
    run = Run(tmp_path / "exp")
    run.save_experiment(experiment)
    torch.manual_seed(0)
    depth, pose = build_model(model_cfg), build_pose_net(model_cfg)
    run.save_networks(depth, pose, model_cfg)
    loaded = load_trained_model(run.path)
    assert (loaded.height, loaded.width) == (64, 96)
    assert loaded.experiment.name == "exp" and loaded.model_config == model_cfg
    for ours, theirs in ((depth, loaded.depth_net), (pose, loaded.pose_net)):
        for (name, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items(), strict=True):
            assert torch.equal(a, b), name
    bare = load_trained_model(run.depth_weights, height=32)
    assert bare.pose_net is None and (bare.height, bare.width) == (32, 640)


def test_a_depth_only_run_and_missing_weights(tmp_path):
    model_cfg = ModelConfig(encoder="drn_tiny", tiny_width=0.125, num_blocks=1)
    run = Run(tmp_path / "exp")
    run.save_experiment(ExperimentConfig(name="exp", model=model_cfg))
    with pytest.raises(FileNotFoundError, match="depth.safetensors"):
        load_trained_model(run.path)
    run.save_networks(build_model(model_cfg), None, model_cfg)
    assert load_trained_model(run.path).pose_net is None
    with pytest.raises(FileNotFoundError, match="neither a run directory nor a depth weights file"):
        load_trained_model(tmp_path / "absent")
