"""DataConfig validation and build_dataset."""

import pytest

from tcdepth.config import ConfigError, load_config
from tcdepth.data.config import DataConfig, build_dataset
from tcdepth.data.synthetic import SyntheticDataset

from .writers import random_frames, write_split, write_synthetic_sequence


def test_defaults_are_valid():
    cfg = DataConfig()
    assert (cfg.height, cfg.width, cfg.frame_ids, cfg.scales) == (192, 640, [0, -1, 1], [0, 1, 2, 3])


@pytest.mark.parametrize("overrides, field", [
    (dict(height=100), "height"),
    (dict(frame_ids=[-1, 0, 1]), "frame_ids"),
    (dict(scales=[0, 2, 1]), "scales"),
    (dict(stride=0), "stride"),
    (dict(static_threshold=-1.0), "static_threshold"),
    (dict(flip_prob=2.0), "flip_prob"),
    (dict(dataset="video", path="x.mp4"), "intrinsics_file"),
    (dict(dataset="kitti", path="kitti_data"), "split_dir"),
])
def test_invalid_values_name_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        DataConfig(**overrides)


def test_loader_prefixes_the_key(tmp_path):
    path = tmp_path / "data.yaml"
    path.write_text("width: 650\n")
    with pytest.raises(ConfigError, match="width"):
        load_config(DataConfig, path)


def test_build_synthetic_dataset(tmp_path, camera):
    write_synthetic_sequence(tmp_path, "s", random_frames(4, 64, 96), camera)
    write_split(tmp_path / "splits" / "val_files.txt", ["s 1", "s 2"])
    cfg = DataConfig(dataset="synthetic", path=str(tmp_path), height=64, width=96, scales=[0, 1])
    ds = build_dataset(cfg, "val", augment=False)
    assert isinstance(ds, SyntheticDataset) and len(ds) == 2
    sample = ds[1]
    assert set(sample) == {"color_0", "color_1", "color_aug_0", "color_aug_1", "K_0", "K_1", "inv_K_0", "inv_K_1",
                           "depth_gt", "index"}
    with pytest.raises(FileNotFoundError, match="train_files.txt"):
        build_dataset(cfg, "train", augment=True)


def test_samples_collate_into_batches(tmp_path, camera):
    import torch

    write_synthetic_sequence(tmp_path, "s", random_frames(4, 64, 96), camera)
    write_split(tmp_path / "splits" / "train_files.txt", ["s 1", "s 2"])
    cfg = DataConfig(path=str(tmp_path), height=64, width=96, flip_prob=1.0, jitter_prob=1.0)
    batch = next(iter(torch.utils.data.DataLoader(build_dataset(cfg, "train", augment=True), batch_size=2)))
    assert batch["color_aug_0"].shape == (2, 3, 3, 64, 96) and batch["K_3"].shape == (2, 3, 3)
    assert batch["index"].tolist() == [0, 1]
