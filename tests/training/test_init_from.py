"""train.init_from with train.init_parts: which networks start from another run's weights."""

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


@pytest.mark.parametrize("parts", ["[]", "[depth,encoder]", "[decoder]"])
def test_init_parts_are_checked(parts):
    with pytest.raises(ConfigError, match="init_parts"):
        load_experiment(None, [f"train.init_parts={parts}"])
