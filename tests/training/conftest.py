import shutil
from pathlib import Path

import pytest

from tcdepth.synth import SynthConfig, write_dataset


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """A tiny native-layout synthetic dataset (one 14-frame sequence at 64 x 192)."""
    root = tmp_path_factory.mktemp("synthetic")
    write_dataset(SynthConfig(width=192, height=64, frames=14, flow_range=1), root, sequences=1, seed=3)
    return root


def tiny_overrides(root: Path, out_dir: Path, name: str) -> list[str]:
    """Overrides that make configs/synthetic_tiny.yaml run in seconds on a CPU."""
    return [f"name={name}", f"data.path={root}", "data.height=64", "data.width=192", "data.num_workers=0",
            f"train.out_dir={out_dir}", "train.epochs=2", "train.batch_size=2", "train.image_every_steps=1",
            "train.log_every_steps=1", "train.teacher.mode=none", "loss.use_motion_loss=false", "model.num_blocks=1",
            "train.init_from=null", "train.val_every_epochs=1"]


@pytest.fixture
def fresh_dir(tmp_path) -> Path:
    out = tmp_path / "runs"
    yield out
    shutil.rmtree(out, ignore_errors=True)
