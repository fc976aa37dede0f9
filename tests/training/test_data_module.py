"""The data module's saved position: a finished epoch resumes at the start of the next, a mid-epoch position skips
what was read, also when the loader's workers draw indices before Lightning sets the epoch."""

from pathlib import Path

import pytest

from tcdepth.experiment import load_experiment
from tcdepth.training.data_module import DepthDataModule
from tcdepth.training.sampling import ResumableShuffleSampler

from .conftest import tiny_overrides

CONFIG = Path(__file__).parents[2] / "configs" / "synthetic_tiny.yaml"


def epoch_order(dm: DepthDataModule, epoch: int) -> list[int]:
    sampler = ResumableShuffleSampler(dm.train_set, seed=dm.cfg.train.seed)
    sampler.set_epoch(epoch)
    return list(sampler)


@pytest.mark.parametrize("saved, epoch, skip", [
    ({"epoch": 0, "samples_done": 8, "finished": True}, 1, 0),
    ({"epoch": 1, "samples_done": 4, "finished": False}, 1, 4),
])
def test_resumed_loader_reads_the_rest_of_the_right_epoch(synthetic_root, tmp_path, saved, epoch, skip):
    cfg = load_experiment(CONFIG, tiny_overrides(synthetic_root, tmp_path, "dm") + ["data.num_workers=1"])
    dm = DepthDataModule(cfg)
    dm.setup("fit")
    dm.load_state_dict(saved)
    loader = dm.train_dataloader()
    batches = iter(loader)  # as Lightning's setup_data does, before it calls set_epoch: the worker draws now
    loader.sampler.set_epoch(epoch)
    read = [index for batch in batches for index in batch["index"].tolist()]
    expected = epoch_order(dm, epoch)[skip:]
    full_batches = len(expected) // cfg.train.batch_size * cfg.train.batch_size  # drop_last
    assert full_batches > 0 and read == expected[:full_batches]
