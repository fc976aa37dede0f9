"""Which checkpoint a run resumes from, and what resuming does to metrics.csv (no training needed)."""

import os

import pytest
import torch

from tcdepth.runs import Run
from tcdepth.training.engine import (
    MetricsRows,
    format_seconds,
    newest_checkpoint,
    prune_epoch_checkpoints,
    read_metrics,
)


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def save(path, step: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"global_step": step, "state_dict": {"w": torch.zeros(2)}, "loops": {}, "callbacks": {}}, path)


@pytest.fixture
def run(tmp_path) -> Run:
    return Run(tmp_path / "run")


def test_the_checkpoint_with_most_steps_wins_whatever_its_kind(run):
    save(run.checkpoint("epoch=0.ckpt"), 14)
    save(run.checkpoint("epoch=1.ckpt"), 28)
    save(run.checkpoint(Run.LAST_CHECKPOINT), 14)  # killed before last.ckpt followed epoch=1.ckpt
    save(run.checkpoint(Run.INTERRUPTED_CHECKPOINT), 9)
    path, state = newest_checkpoint(run)
    assert path.name == "epoch=1.ckpt" and state["global_step"] == 28
    assert [p.name for p in run.epoch_checkpoints()] == ["epoch=0.ckpt", "epoch=1.ckpt"]


@pytest.mark.parametrize("damage", ["empty", "random bytes", "truncated", "payload", "not a checkpoint"])
def test_damaged_checkpoints_are_skipped_with_a_warning(run, tmp_path, damage):
    save(run.checkpoint("epoch=0.ckpt"), 14)
    last = run.checkpoint(Run.LAST_CHECKPOINT)
    marker = tmp_path / "ran"
    if damage == "empty":
        last.write_bytes(b"")
    elif damage == "random bytes":
        last.write_bytes(os.urandom(4096))
    elif damage == "truncated":
        save(last, 28)
        last.write_bytes(last.read_bytes()[:300])
    elif damage == "payload":
        torch.save({"global_step": 99, "state_dict": {}, "loops": {}, "callbacks": Payload(marker)}, last)
    else:
        torch.save({"weights": torch.zeros(1)}, last)
    with pytest.warns(UserWarning, match=r"checkpoint .*last.ckpt .*skipped"):
        path, _ = newest_checkpoint(run)
    assert path.name == "epoch=0.ckpt" and not marker.exists()


def test_pruning_keeps_the_newest_epochs(run):
    for epoch in (0, 1, 2, 10):  # a kill between writing epoch 10's checkpoint and pruning leaves one too many
        save(run.checkpoint(f"epoch={epoch}.ckpt"), epoch)
    save(run.checkpoint(Run.LAST_CHECKPOINT), 10)
    assert [p.name for p in prune_epoch_checkpoints(run, 2)] == ["epoch=0.ckpt", "epoch=1.ckpt"]
    assert sorted(p.name for p in run.checkpoint_dir.iterdir()) == ["epoch=10.ckpt", "epoch=2.ckpt", "last.ckpt"]


def test_no_checkpoint(run):
    assert newest_checkpoint(run) is None


def test_resuming_drops_the_rows_logged_after_the_checkpoint(tmp_path):
    metrics = tmp_path / "metrics.csv"
    metrics.write_text("epoch,step,train/loss,val/a1\n0,0,0.5,\n0,1,0.4,\n0,1,,0.9\n1,2,0.3,\n")
    assert MetricsRows.trim(metrics, 3) == 1
    assert read_metrics(metrics) == [{"epoch": "0", "step": "0", "train/loss": "0.5"},
                                     {"epoch": "0", "step": "1", "train/loss": "0.4"},
                                     {"epoch": "0", "step": "1", "val/a1": "0.9"}]
    assert MetricsRows.trim(metrics, 5) == 0


def test_format_seconds():
    assert [format_seconds(s) for s in (42.2, 185, 3720, float("nan"))] == ["42s", "3m05s", "1h02m", "?"]
