"""How a checkpoint teacher runs: its decoder's upsampling, its BatchNorm statistics and per-epoch weights."""

from dataclasses import replace
from pathlib import Path

import lightning as L
import pytest
import torch

from tcdepth.config import ConfigError
from tcdepth.experiment import load_experiment
from tcdepth.models import build_model, save_weights
from tcdepth.models.config import ModelConfig
from tcdepth.training.engine import train
from tcdepth.training.module import DepthModule

from .conftest import tiny_overrides

CONFIGS = Path(__file__).parents[2] / "configs"
TEACHER = ModelConfig(architecture="monodepth2", encoder="resnet18")


def _teacher_file(path, seed):
    torch.manual_seed(seed)
    save_weights(build_model(TEACHER), TEACHER, path)
    return path


def _module(synthetic_root, fresh_dir, teacher_overrides):
    overrides = tiny_overrides(synthetic_root, fresh_dir, "teacher") + ["loss.use_motion_loss=true",
                                                                         "train.teacher.mode=checkpoint"]
    return DepthModule(load_experiment(CONFIGS / "synthetic_tiny.yaml", overrides + teacher_overrides))


def test_reference_teacher_upsamples_bilinearly_with_batch_statistics(synthetic_root, fresh_dir, tmp_path):
    path = _teacher_file(tmp_path / "teacher.safetensors", seed=0)
    module = _module(synthetic_root, fresh_dir, [f"train.teacher.path={path}", "train.teacher.upsample_mode=bilinear",
                                                 "train.teacher.batch_statistics=true"])
    module.train()
    assert module.teacher.training and not any(p.requires_grad for p in module.teacher.parameters())
    image = torch.rand(2, 3, 64, 192)
    bilinear = build_model(replace(TEACHER, upsample_mode="bilinear"))
    bilinear.load_state_dict(module.teacher.state_dict())
    with torch.no_grad():
        expected = bilinear.train()(image)["disp"][0]
        got = module.teacher(image)["disp"][0]
        nearest = _module(synthetic_root, fresh_dir, [f"train.teacher.path={path}"]).train().teacher(image)
    assert torch.allclose(got, expected, atol=1e-6)
    assert not torch.allclose(nearest["disp"][0], expected, atol=1e-3)  # eval-mode statistics, nearest upsampling


def test_per_epoch_teacher_loads_the_latest_saved_epoch(synthetic_root, fresh_dir, tmp_path, monkeypatch):
    for epoch in (0, 1, 3):
        _teacher_file(tmp_path / f"weights_{epoch}.safetensors", seed=epoch)
    module = _module(synthetic_root, fresh_dir, [f"train.teacher.path={tmp_path}/weights_{{epoch}}.safetensors"])
    teacher = module.cfg.train.teacher
    assert [teacher.path_at(e).name for e in (0, 1, 2, 3, 25)] == [
        "weights_0.safetensors", "weights_1.safetensors", "weights_1.safetensors", "weights_3.safetensors",
        "weights_3.safetensors"]
    first = {k: v.clone() for k, v in module.teacher.state_dict().items()}
    monkeypatch.setattr(DepthModule, "current_epoch", property(lambda self: 4))
    module.on_train_epoch_start()
    reloaded = module.teacher.state_dict()
    assert any(not torch.equal(first[k], reloaded[k]) for k in first)
    torch.manual_seed(3)
    assert all(torch.equal(v, reloaded[k]) for k, v in build_model(TEACHER).state_dict().items())


@pytest.mark.parametrize("overrides, message", [
    (["train.teacher.mode=joint", "train.teacher.path=t/weights_{epoch}"],
     r"train.teacher: path 't/weights_\{epoch\}': per-epoch weights .* need mode 'checkpoint'"),
    (["train.teacher.upsample_mode=cubic"], "train.teacher.upsample_mode: 'cubic'"),
])
def test_teacher_options_are_checked(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment(CONFIGS / "synthetic_tiny.yaml", overrides)


@pytest.mark.slow
def test_training_reloads_the_per_epoch_teacher_at_each_epoch(synthetic_root, fresh_dir, tmp_path):
    """Through the training loop: each epoch's first step sees that epoch's teacher weights."""
    for epoch in (0, 1):
        _teacher_file(tmp_path / f"weights_{epoch}.safetensors", seed=10 + epoch)
    seen = {}

    class TeacherProbe(L.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            seen.setdefault(trainer.current_epoch, module.teacher.encoder.state_dict()["conv1.weight"].clone())

    overrides = tiny_overrides(synthetic_root, fresh_dir, "per_epoch_teacher") + [
        "loss.use_motion_loss=true", "loss.motion_epochs=[0,19]", "train.teacher.mode=checkpoint",
        "train.image_every_steps=100",
        f"train.teacher.path={tmp_path}/weights_{{epoch}}.safetensors"]
    train(load_experiment(CONFIGS / "synthetic_tiny.yaml", overrides), enable_progress_bar=False,
          extra_callbacks=[TeacherProbe()])
    assert sorted(seen) == [0, 1]
    for epoch, weight in seen.items():
        torch.manual_seed(10 + epoch)
        assert torch.equal(weight, build_model(TEACHER).encoder.state_dict()["conv1.weight"])
