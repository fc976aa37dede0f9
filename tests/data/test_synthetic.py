"""SyntheticDataset on a native-layout fixture: sample contract, boundaries, flips, jitter, errors."""

import numpy as np
import pytest
import torch

from tcdepth.data.augment import AugmentSettings
from tcdepth.data.synthetic import SyntheticDataset

from .writers import random_frames, write_split, write_synthetic_sequence

H, W = 64, 96


def make(root, split, **kwargs):
    return SyntheticDataset(root, split, height=H, width=W, **kwargs)


@pytest.fixture
def five_frames(tmp_path, camera):
    # frames stored at half the network size, so that K must be scaled by 2
    half = dict(camera, fx=20.0, fy=15.0, cx=23.75, cy=15.75, width=48, height=32)
    depth = np.full((5, 32, 48), 7.0, np.float32)
    depth[:, :4] = np.inf  # sky
    write_synthetic_sequence(tmp_path, "seq_a", random_frames(5, 32, 48), half, depth)
    split = write_split(tmp_path / "splits" / "train_files.txt", [f"seq_a {i}" for i in range(5)])
    return tmp_path, split


def test_sample_contract_and_boundaries(five_frames, caplog):
    root, split = five_frames
    with caplog.at_level("INFO"):
        ds = make(root, split)
    assert len(ds) == 3 and ds.num_dropped == 2  # frames 0 and 4 lack a neighbour
    assert "dropped 2" in caplog.text
    assert [e.frame for e in ds.entries] == [1, 2, 3]
    sample = ds[0]
    for s in range(4):
        assert sample[f"color_{s}"].shape == (3, 3, H >> s, W >> s)
        assert sample[f"color_aug_{s}"].shape == (3, 3, H >> s, W >> s)
        assert sample[f"color_{s}"].dtype == torch.float32
        assert 0 <= sample[f"color_{s}"].min() and sample[f"color_{s}"].max() <= 1
        # fx = 20 px at width 48 -> 40 px at width 96 -> halved per level
        assert sample[f"K_{s}"][0, 0] == pytest.approx(40.0 / 2**s)
        assert sample[f"K_{s}"][1, 1] == pytest.approx(30.0 / 2**s)
        torch.testing.assert_close(sample[f"K_{s}"] @ sample[f"inv_K_{s}"], torch.eye(3))
    assert int(sample["index"]) == 0
    # without augmentation the network input is the raw frame
    torch.testing.assert_close(sample["color_aug_0"], sample["color_0"])
    # sky (+inf) is reported as unknown (0), the rest is the stored depth
    gt = sample["depth_gt"]
    assert gt.shape == (1, 32, 48)
    assert (gt[:, :4] == 0).all() and (gt[:, 4:] == 7.0).all()


def test_frame_order_follows_frame_ids(tmp_path, camera):
    frames = np.zeros((3, H, W, 3), np.uint8)
    for i in range(3):
        frames[i] = 50 * (i + 1)  # frame i has grey level 50 (i + 1)
    write_synthetic_sequence(tmp_path, "s", frames, camera)
    split = write_split(tmp_path / "split.txt", ["s 1"])
    sample = make(tmp_path, split, frame_ids=[0, -1, 1])[0]
    levels = sample["color_0"].mean(dim=(1, 2, 3)) * 255
    torch.testing.assert_close(levels, torch.tensor([100.0, 50.0, 150.0]), atol=0.5, rtol=0)


def test_flipped_intrinsics_match_flipped_image(tmp_path, camera):
    # a bright dot at the projection of a 3D point, stored at the network size (no resampling blur)
    X, Y, Z = -0.6, 0.4, 3.0
    u, v = round(camera["fx"] * X / Z + camera["cx"]), round(camera["fy"] * Y / Z + camera["cy"])
    X, Y = (u - camera["cx"]) * Z / camera["fx"], (v - camera["cy"]) * Z / camera["fy"]  # exactly on pixel (u, v)
    frames = np.zeros((3, H, W, 3), np.uint8)
    frames[:, v, u] = 255
    write_synthetic_sequence(tmp_path, "s", frames, camera)
    split = write_split(tmp_path / "split.txt", ["s 1"])
    sample = make(tmp_path, split, augment=AugmentSettings(flip_prob=1.0, jitter_prob=0.0))[0]
    image = sample["color_0"][0].sum(0)
    row, col = divmod(int(image.argmax()), W)
    assert (row, col) == (v, W - 1 - u)
    mirrored = sample["K_0"] @ torch.tensor([-X, Y, Z])  # the flipped scene sees the point at (-X, Y, Z)
    assert float(mirrored[0] / mirrored[2]) == pytest.approx(col, abs=1e-4)
    assert float(mirrored[1] / mirrored[2]) == pytest.approx(row, abs=1e-4)
    # every scale: the flipped image is the mirror of the unflipped one, and the flipped K sends the mirrored
    # point to the mirrored column (u' = W_s - 1 - u) of the unflipped K
    plain = make(tmp_path, split)[0]
    for s in (1, 2, 3):
        torch.testing.assert_close(sample[f"color_{s}"], plain[f"color_{s}"].flip(-1))
        p = sample[f"K_{s}"] @ torch.tensor([-X, Y, Z])
        q = plain[f"K_{s}"] @ torch.tensor([X, Y, Z])
        assert float(p[0] / p[2]) == pytest.approx((W >> s) - 1 - float(q[0] / q[2]), abs=1e-4)
        assert float(p[1] / p[2]) == pytest.approx(float(q[1] / q[2]), abs=1e-4)


def test_shared_jitter_is_identical_across_frames(tmp_path, camera):
    frames = random_frames(1, H, W).repeat(3, axis=0)
    write_synthetic_sequence(tmp_path, "s", frames, camera)
    split = write_split(tmp_path / "split.txt", ["s 1"])
    shared = make(tmp_path, split, augment=AugmentSettings(flip_prob=0.0, jitter_prob=1.0))[0]["color_aug_0"]
    torch.testing.assert_close(shared[0], shared[1])
    torch.testing.assert_close(shared[0], shared[2])
    per_frame = make(tmp_path, split, augment=AugmentSettings(jitter_prob=1.0, per_frame_jitter=True))[0]
    assert not torch.allclose(per_frame["color_aug_0"][0], per_frame["color_aug_0"][1])
    torch.testing.assert_close(per_frame["color_0"][0], per_frame["color_0"][1])  # raw frames untouched


def test_augmentation_is_deterministic_given_seed_and_epoch(five_frames):
    root, split = five_frames
    ds = make(root, split, augment=AugmentSettings(flip_prob=0.5, jitter_prob=1.0), seed=7)
    first = [ds[i]["color_aug_0"] for i in range(len(ds))]
    again = make(root, split, augment=AugmentSettings(flip_prob=0.5, jitter_prob=1.0), seed=7)
    for i in range(len(ds)):
        torch.testing.assert_close(again[i]["color_aug_0"], first[i])
    again.set_epoch(1)
    assert any(not torch.allclose(again[i]["color_aug_0"], first[i]) for i in range(len(ds)))


def test_unreadable_image_names_the_file(five_frames):
    root, split = five_frames
    (root / "seq_a" / "rgb" / "000002.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="000002.png"):
        make(root, split)[0]


def test_bad_intrinsics_file_names_the_file(five_frames):
    root, split = five_frames
    (root / "seq_a" / "intrinsics.yaml").write_text("fx: 1\nfy: 1\n")
    with pytest.raises(ValueError, match="intrinsics.yaml.*missing key"):
        make(root, split)[0]


def test_network_size_must_be_a_multiple_of_32(five_frames):
    root, split = five_frames
    with pytest.raises(ValueError, match="height must be a positive multiple of 32"):
        SyntheticDataset(root, split, height=50, width=96)
