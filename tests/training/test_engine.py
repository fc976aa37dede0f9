import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tcdepth.config import ConfigError
from tcdepth.experiment import ExperimentConfig, load_experiment
from tcdepth.models import ModelConfig, build_model, build_pose_net, load_weights
from tcdepth.runs import Run
from tcdepth.training.engine import train
from tcdepth.training.module import DepthModule, NonFiniteLossError

from .conftest import tiny_overrides

CONFIGS = Path(__file__).parents[2] / "configs"
SCRIPT = Path(__file__).parent / "run_script.py"


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a if a[k].is_floating_point())


def test_training_writes_checkpoints_weights_logs_and_validation(synthetic_root, fresh_dir):
    cfg = load_experiment(CONFIGS / "synthetic_tiny.yaml", tiny_overrides(synthetic_root, fresh_dir, "run"))
    run_dir = train(cfg, enable_progress_bar=False).path
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("*.ckpt")) == ["epoch=0.ckpt", "epoch=1.ckpt",
                                                                                 "last.ckpt"]
    depth, model_cfg = load_weights(run_dir / "depth.safetensors")
    assert model_cfg.architecture == "tcdepth" and model_cfg.num_blocks == 1
    pose, _ = load_weights(run_dir / "pose.safetensors")
    rows = list(csv.DictReader((run_dir / "logs" / "metrics.csv").open()))
    abs_rel = [float(r["val/abs_rel"]) for r in rows if r.get("val/abs_rel")]
    assert len(abs_rel) == 2 and all(0 < v < 1 for v in abs_rel)
    assert any(r.get("train/loss") for r in rows)
    tags = set()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for events in (run_dir / "logs").glob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        tags |= set(acc.Tags()["images"])
    assert {"depth/disparity", "attention/spatial", "attention/temporal"} <= tags
    assert any(t.startswith("mask/automask") for t in tags)


def test_resume_after_interrupt_equals_uninterrupted_run(synthetic_root, fresh_dir):
    straight = run_script(synthetic_root, fresh_dir, "straight", "plain")
    assert straight.returncode == 0, straight.stderr[-3000:]
    stopped = run_script(synthetic_root, fresh_dir, "resumed", "interrupt-at-3")
    assert stopped.returncode == 130 and "interrupted by SIGINT: saved" in stopped.stdout, stopped.stderr[-3000:]
    assert (fresh_dir / "resumed" / "checkpoints" / "interrupted.ckpt").is_file()
    assert not (fresh_dir / "resumed" / "depth.safetensors").exists()
    resumed = run_script(synthetic_root, fresh_dir, "resumed", "plain")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stdout
    a, _ = load_weights(fresh_dir / "straight" / "depth.safetensors")
    b, _ = load_weights(fresh_dir / "resumed" / "depth.safetensors")
    assert max_difference(a.state_dict(), b.state_dict()) < 1e-6
    steps = [int(r["step"]) for r in csv.DictReader((fresh_dir / "resumed" / "logs" / "metrics.csv").open())
             if r.get("train/loss")]
    assert steps[0] == 0 and steps[-1] == 7  # the rows logged before the interruption are kept
    c, _ = load_weights(fresh_dir / "straight" / "pose.safetensors")
    d, _ = load_weights(fresh_dir / "resumed" / "pose.safetensors")
    assert max_difference(c.state_dict(), d.state_dict()) < 1e-6


def test_sigterm_saves_a_checkpoint_at_the_step_boundary_and_exits_143(synthetic_root, fresh_dir):
    stopped = run_script(synthetic_root, fresh_dir, "term", "terminate-at-2", "train.epochs=1")
    assert stopped.returncode == 143 and "interrupted by SIGTERM: saved" in stopped.stdout, stopped.stderr[-3000:]
    run_dir = fresh_dir / "term"
    state = torch.load(run_dir / "checkpoints" / "interrupted.ckpt", weights_only=True, map_location="cpu")
    assert state["global_step"] == 2 and state["callbacks"]["MetricsRows"]["rows"] >= 2
    assert not (run_dir / "depth.safetensors").exists()
    steps = [int(r["step"]) for r in csv.DictReader((run_dir / "logs" / "metrics.csv").open()) if r.get("train/loss")]
    assert steps == [0, 1]  # both steps done before the signal are logged, and no other
    assert not [p for p in run_dir.rglob(".*.tmp*")]


def test_ddp_on_two_cpu_processes_keeps_ranks_identical(synthetic_root, fresh_dir):
    # The demo's schedule (validation every second epoch): no validation runs between the last step and the save.
    result = run_script(synthetic_root, fresh_dir, "ddp", "ddp", "train.epochs=1", "train.val_every_epochs=2")
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = torch.load(fresh_dir / "ddp" / "rank0.pt")
    rank1 = torch.load(fresh_dir / "ddp" / "rank1.pt")
    assert max_difference(rank0, rank1) == 0.0
    initial = DepthModule(load_experiment(CONFIGS / "synthetic_tiny.yaml",
                                          tiny_overrides(synthetic_root, fresh_dir, "x"))).state_dict()
    assert max_difference(rank0, {k: initial[k] for k in rank0}) > 0  # training changed them


def test_nonfinite_losses_are_skipped_then_stop_the_run(synthetic_root, fresh_dir, monkeypatch):
    cfg = load_experiment(CONFIGS / "synthetic_tiny.yaml",
                          tiny_overrides(synthetic_root, fresh_dir, "nan") + ["train.max_nonfinite_steps=3"])
    original = DepthModule.compute_loss

    def nan_loss(self, batch, with_images=False):
        total, terms, outputs, masks = original(self, batch, with_images)
        return total * float("nan"), terms, outputs, masks

    monkeypatch.setattr(DepthModule, "compute_loss", nan_loss)
    with pytest.warns(UserWarning, match="non-finite loss"), pytest.raises(NonFiniteLossError, match="3 steps"):
        train(cfg, enable_progress_bar=False)
    assert not (fresh_dir / "nan" / "depth.safetensors").exists()


def test_joint_teacher_is_trained_and_frozen_teacher_is_not(synthetic_root, fresh_dir, tmp_path):
    base = tiny_overrides(synthetic_root, fresh_dir, "joint") + ["loss.use_motion_loss=true", "train.epochs=1"]
    joint = DepthModule(load_experiment(CONFIGS / "synthetic_tiny.yaml", base + ["train.teacher.mode=joint"]))
    optimised = {id(p) for group in joint.configure_optimizers()["optimizer"].param_groups for p in group["params"]}
    assert all(id(p) in optimised for p in joint.teacher.parameters())

    from tcdepth.models import save_weights

    teacher_path = tmp_path / "teacher.safetensors"
    save_weights(joint.teacher, joint.teacher_config, teacher_path)
    checkpoint_teacher = ["train.teacher.mode=checkpoint", f"train.teacher.path={teacher_path}"]
    frozen = DepthModule(load_experiment(CONFIGS / "synthetic_tiny.yaml", base + checkpoint_teacher))
    frozen.train()
    assert not frozen.teacher.training and not any(p.requires_grad for p in frozen.teacher.parameters())
    optimised = {id(p) for group in frozen.configure_optimizers()["optimizer"].param_groups for p in group["params"]}
    assert not any(id(p) in optimised for p in frozen.teacher.parameters())

    wrong_path = tmp_path / "wrong.safetensors"
    save_weights(frozen.depth_net, frozen.cfg.model, wrong_path)
    with pytest.raises(ValueError, match="expected Monodepth2 weights"):
        DepthModule(load_experiment(CONFIGS / "synthetic_tiny.yaml",
                                    base + ["train.teacher.mode=checkpoint", f"train.teacher.path={wrong_path}"]))


def test_a_teacher_run_directory_trains_like_its_weights_file(synthetic_root, fresh_dir, tmp_path):
    """Training is seeded before the module is built: a teacher given as its run directory must leave the random
    state that the same teacher given as its depth.safetensors leaves (the run's pose network is not built), or the
    two runs train differently."""
    teacher_cfg = ModelConfig(architecture="monodepth2", encoder="resnet18")
    run = Run(tmp_path / "teacher")
    run.save_experiment(ExperimentConfig(name="teacher", model=teacher_cfg))
    run.save_networks(build_model(teacher_cfg), build_pose_net(teacher_cfg), teacher_cfg)
    base = tiny_overrides(synthetic_root, fresh_dir, "student") + ["loss.use_motion_loss=true",
                                                                   "train.teacher.mode=checkpoint"]
    states = []
    for path in (run.path, run.depth_weights):
        torch.manual_seed(0)
        DepthModule(load_experiment(CONFIGS / "synthetic_tiny.yaml", base + [f"train.teacher.path={path}"]))
        states.append(torch.get_rng_state())
    assert torch.equal(*states)


@pytest.mark.parametrize("config", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(config):
    cfg = load_experiment(config)
    assert cfg.name and cfg.train.epochs > 0


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.epochs=0", "train: epochs must be positive"),
        ("train.precision=fp8", "train.precision: expected one of"),
        ("train.milestones=[20, 15]", "train: milestones must be increasing"),
        ("model.encoder=vgg", "model.encoder"),
        ("data.height=100", "height"),
        ("loss.cycle_keep=1.5", "cycle_keep"),
        ("train.teacher.path=null", "train.teacher: path is required"),
    ],
)
def test_invalid_values_name_their_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment(CONFIGS / "synthetic_tiny.yaml", [override])


def test_motion_loss_needs_a_teacher():
    with pytest.raises(ConfigError, match="loss.use_motion_loss needs a teacher"):
        load_experiment(CONFIGS / "synthetic_tiny.yaml", ["train.teacher.mode=none"])
