"""Test-time refinement: it changes the weights inside the block, restores them after, and nothing leaks from
one sequence into the next."""

from __future__ import annotations

import pytest
import torch

from tcdepth.data.frames import FrameRef
from tcdepth.data.synthetic import SyntheticFrames
from tcdepth.evaluation.predict import DepthPredictor
from tcdepth.evaluation.refine import RefineConfig, Refiner
from tcdepth.experiment import ExperimentConfig
from tcdepth.models import ModelConfig, build_model, build_pose_net
from tcdepth.synth.config import SynthConfig
from tcdepth.synth.writers import write_dataset

HEIGHT, WIDTH = 64, 128


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("refine")
    write_dataset(SynthConfig(frames=5, width=WIDTH, height=HEIGHT, flow_range=1), root, sequences=2, seed=5)
    torch.manual_seed(0)
    cfg = ModelConfig(encoder="drn_tiny", tiny_width=0.125, num_blocks=1)
    experiment = ExperimentConfig(model=cfg)
    experiment.loss.scales = (0,)
    depth_net, pose_net = build_model(cfg).eval(), build_pose_net(cfg).eval()
    refiner = Refiner(experiment, depth_net, pose_net, RefineConfig(steps=2, learning_rate=1e-3, batch_size=2))
    predictor = DepthPredictor(depth_net, cfg.min_depth, cfg.max_depth, HEIGHT, WIDTH)
    return SyntheticFrames(root), refiner, predictor


def frames(sequence):
    return [FrameRef(sequence, f) for f in range(1, 4)]


def snapshot(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_refinement_updates_only_the_encoders_and_restores_the_weights(setup):
    store, refiner, predictor = setup
    before = snapshot(refiner.module)
    with refiner.refined(store, frames("seq_000"), HEIGHT, WIDTH) as report:
        inside = snapshot(refiner.module)
    assert report.samples == 3 and len(report.losses) == 2
    changed = {k for k in before if not torch.equal(before[k], inside[k])}
    assert any(k.startswith("depth_net.encoder.") for k in changed)
    assert any(k.startswith("pose_net.encoder.") for k in changed)
    assert all(k.startswith(("depth_net.encoder.", "pose_net.encoder.")) for k in changed)
    after = snapshot(refiner.module)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_refinement_of_one_sequence_leaves_no_trace_in_the_predictions_of_the_next(setup):
    store, refiner, predictor = setup
    target = FrameRef("seq_001", 2)
    plain = predictor.predict(store, target).disp
    with refiner.refined(store, frames("seq_000"), HEIGHT, WIDTH):
        during = predictor.predict(store, target).disp
    after = predictor.predict(store, target).disp
    assert not torch.equal(torch.from_numpy(during), torch.from_numpy(plain))
    assert torch.equal(torch.from_numpy(after), torch.from_numpy(plain))


def test_refinement_without_a_teacher_builds_none(setup):
    _, refiner, _ = setup
    assert refiner.module.teacher is None
    assert not any(name.startswith("teacher") for name, _ in refiner.module.named_parameters())
