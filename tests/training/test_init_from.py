"""train.init_from with train.init_parts: which networks start from another run's weights."""

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from tcdepth.config import ConfigError
from tcdepth.experiment import ExperimentConfig, load_experiment
from tcdepth.models import build_model, build_pose_net
from tcdepth.models.config import ModelConfig
from tcdepth.runs import Run
from tcdepth.training.module import DepthModule

from .conftest import tiny_overrides

CONFIGS = Path(__file__).parents[2] / "configs"
SOURCE = ModelConfig(architecture="monodepth2", encoder="efficientnet_lite0", pose_encoder="efficientnet_lite0")


@pytest.fixture
def lite0_baseline(tmp_path) -> Run:
    """A Monodepth2 run with a (random) full Lite0 depth encoder and a Lite0 pose network."""
    torch.manual_seed(1)
    run = Run(tmp_path / "baseline")
    run.path.mkdir()
    run.save_experiment(ExperimentConfig(model=SOURCE))
    run.save_networks(build_model(SOURCE), build_pose_net(SOURCE), SOURCE)
    return run


def _tcdepth_module(root, out_dir, overrides):
    base = tiny_overrides(root, out_dir, "student") + ["model.pretrained=null", "model.pose_pretrained=null"]
    return DepthModule(load_experiment(CONFIGS / "synthetic_tiny.yaml", base + overrides))


def test_a_lite0_tiny_encoder_starts_from_the_first_blocks_of_a_lite0_baseline(lite0_baseline, synthetic_root,
                                                                                fresh_dir):
    module = _tcdepth_module(synthetic_root, fresh_dir, [f"train.init_from={lite0_baseline.path}",
                                                         "train.init_parts=[encoder,pose]"])
    decoder_before = {k: v.clone() for k, v in module.depth_net.state_dict().items() if not k.startswith("encoder.")}
    module.initialise_from(module.cfg.train.init_from, module.cfg.train.init_parts)
    source = Run(lite0_baseline.path).load_depth_net()[0].eval()
    image = torch.rand(1, 3, 64, 192)
    with torch.no_grad():
        ours, theirs = module.depth_net.encoder.eval()(image), source.encoder(image)
    # Blocks 0-4 keep their strides in both encoders: the skip features at 1/2, 1/4 and 1/8 are the same.
    for mine, reference in zip(ours[:3], theirs[:3], strict=True):
        torch.testing.assert_close(mine, reference)
    assert not torch.allclose(ours[0], build_model(module.cfg.model).encoder.eval()(image)[0])
    for key, value in module.depth_net.state_dict().items():
        if not key.startswith("encoder."):
            assert torch.equal(value, decoder_before[key]), key
    pose = Run(lite0_baseline.path).load_pose_net()
    for (key, value), reference in zip(module.pose_net.state_dict().items(), pose.state_dict().values(), strict=True):
        assert torch.equal(value, reference), key


def test_an_encoder_of_another_family_is_refused(lite0_baseline, synthetic_root, fresh_dir):
    module = _tcdepth_module(synthetic_root, fresh_dir, ["model.encoder=drn_tiny"])
    with pytest.raises(ValueError, match="its depth encoder does not hold this model's encoder: missing"):
        module.initialise_from(str(lite0_baseline.path), ["encoder"])


def test_the_decoder_stages_start_from_the_baseline_decoder_aligned_from_the_finest(lite0_baseline, synthetic_root,
                                                                                     fresh_dir):
    # Upsampling as the baseline's (TC-Depth's default is bilinear), so that the copied stages compute its functions.
    module = _tcdepth_module(synthetic_root, fresh_dir, ["model.upsample_mode=nearest"])
    first_input_before = module.depth_net.decoder.pre[0].conv.conv.weight.detach().clone()
    encoder_before = {k: v.clone() for k, v in module.depth_net.encoder.state_dict().items()}
    module.initialise_from(str(lite0_baseline.path), ["decoder"])
    ours, theirs = module.depth_net.decoder.eval(), lite0_baseline.load_depth_net()[0].decoder.eval()
    # Both decoders take the same skips at 1/2, 1/4, 1/8 (the Lite0 blocks 0-4): a 128-channel 1/8 feature through
    # TC-Depth's stages 1-3 must give what it gives through the baseline's stages 2-4, disparities included.
    torch.manual_seed(0)
    skips = [torch.rand(1, 16, 32, 96), torch.rand(1, 24, 16, 48), torch.rand(1, 40, 8, 24)]
    x_ours = x_theirs = torch.rand(1, 128, 8, 24)
    with torch.no_grad():
        for index in (1, 2, 3):
            x_ours, disp_ours = ours._stage(index, x_ours, skips)
            x_theirs, disp_theirs = theirs._stage(index + 1, x_theirs, skips)
            torch.testing.assert_close(disp_ours, disp_theirs)
    # Stage 0 reads the 1/8 context instead of the baseline's 1/16 stage: its input convolution keeps its weights.
    assert torch.equal(ours.pre[0].conv.conv.weight, first_input_before)
    torch.testing.assert_close(ours.post[0].conv.conv.weight, theirs.post[1].conv.conv.weight)
    torch.testing.assert_close(ours.disp_heads[0].conv.weight, theirs.disp_heads[0].conv.weight)
    for key, value in module.depth_net.encoder.state_dict().items():
        assert torch.equal(value, encoder_before[key]), key


def test_a_decoder_with_more_stages_than_the_source_is_refused(synthetic_root, fresh_dir, tmp_path):
    student = _tcdepth_module(synthetic_root, fresh_dir, [])
    run = Run(tmp_path / "tcdepth")
    run.path.mkdir()
    run.save_experiment(student.cfg)
    run.save_networks(student.depth_net, student.pose_net, student.cfg.model)
    baseline = DepthModule(ExperimentConfig(model=replace(SOURCE, pretrained=None, pose_pretrained=None)))
    with pytest.raises(ValueError, match="its depth decoder does not hold this model's stages: 4 source stages for "
                                         "this decoder's 5"):
        baseline.initialise_from(str(run.path), ["decoder"])


@pytest.mark.parametrize("parts", ["[]", "[depth,encoder]", "[depth,decoder]", "[head]"])
def test_init_parts_are_checked(parts):
    with pytest.raises(ConfigError, match="init_parts"):
        load_experiment(None, [f"train.init_parts={parts}"])
