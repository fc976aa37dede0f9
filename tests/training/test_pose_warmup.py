from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import DataLoader

from tcdepth.config import ConfigError
from tcdepth.data import build_dataset
from tcdepth.experiment import load_experiment
from tcdepth.training.module import DepthModule

from .conftest import tiny_overrides

CONFIGS = Path(__file__).parents[2] / "configs"


def _gradients_after_one_step(synthetic_root, fresh_dir, warmup_steps: int, global_step: int):
    """Whether the depth and the pose network get a gradient at ``global_step`` of a Monodepth2 run."""
    overrides = tiny_overrides(synthetic_root, fresh_dir, "warmup") + [f"train.pose_warmup_steps={warmup_steps}"]
    cfg = load_experiment(CONFIGS / "synthetic_tiny_monodepth2.yaml", overrides)
    torch.manual_seed(0)
    module = DepthModule(cfg).train()
    module._trainer = SimpleNamespace(global_step=global_step)
    batch = next(iter(DataLoader(build_dataset(cfg.data, "train", augment=False), batch_size=2)))
    module.compute_loss(batch)[0].backward()
    return tuple(any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in net.parameters())
                 for net in (module.depth_net, module.pose_net))


@pytest.mark.parametrize("warmup_steps, global_step, depth_learns", [(0, 0, True), (3, 0, False), (3, 2, False),
                                                                     (3, 3, True)])
def test_only_the_pose_network_learns_during_the_warmup(synthetic_root, fresh_dir, warmup_steps, global_step,
                                                         depth_learns):
    depth, pose = _gradients_after_one_step(synthetic_root, fresh_dir, warmup_steps, global_step)
    assert pose
    assert depth == depth_learns


def test_warmup_steps_are_validated():
    with pytest.raises(ConfigError, match="pose_warmup_steps must be >= 0"):
        load_experiment(CONFIGS / "synthetic_tiny_monodepth2.yaml", ["train.pose_warmup_steps=-1"])
