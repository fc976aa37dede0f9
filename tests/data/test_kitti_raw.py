"""KITTIRawDataset on a KITTI-layout drive written here: cameras, intrinsics, boundaries, velodyne ground truth."""


import numpy as np
import pytest
import torch
from PIL import Image

from tcdepth.data.frames import FrameRef
from tcdepth.data.kitti_raw import KITTIRawDataset, KittiRawFrames

from .writers import random_frames, write_kitti_calib, write_scan, write_split

DRIVE = "2011_09_26/2011_09_26_drive_0001_sync"
H, W = 32, 64


@pytest.fixture
def kitti(tmp_path):
    write_kitti_calib(tmp_path / "2011_09_26")
    left = random_frames(4, 20, 40)
    for i in range(4):
        for cam, image in ((2, left[i]), (3, np.full((20, 40, 3), 200, np.uint8))):
            folder = tmp_path / DRIVE / f"image_0{cam}" / "data"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{i:010d}.png")
        write_scan(tmp_path / DRIVE / "velodyne_points" / "data" / f"{i:010d}.bin", [(10.0, 0.5, 0.0)])
    split = write_split(tmp_path / "split" / "train_files.txt",
                        [f"{DRIVE} 0 l", f"{DRIVE} 1 l", f"{DRIVE} 2 r", f"{DRIVE} 3 l"])
    return tmp_path, split


def test_cameras_intrinsics_and_boundaries(kitti):
    root, split = kitti
    ds = KITTIRawDataset(root, split, H, W, img_ext="png")
    assert len(ds) == 2 and ds.num_dropped == 2  # frames 0 and 3 lack a neighbour
    left, right = ds[0], ds[1]
    assert left["color_0"].shape == (3, 3, H, W) and left["color_3"].shape == (3, 3, H // 8, W // 8)
    # P_rect_02: fx = 100 at 40 px width -> 160 at 64 px; cx = 20 -> 32; fy = 100 at 20 px -> 160 at 32 px
    torch.testing.assert_close(left["K_0"], torch.tensor([[160.0, 0, 32], [0, 160, 16], [0, 0, 1]]))
    assert right["K_0"][0, 0] == pytest.approx(80.0)  # P_rect_03 has fx = 50
    torch.testing.assert_close(right["color_0"], torch.full_like(right["color_0"], 200 / 255), atol=1e-6, rtol=0)
    assert "depth_gt" not in left


def test_velodyne_ground_truth(kitti):
    root, split = kitti
    sample = KITTIRawDataset(root, split, H, W, img_ext="png", load_depth_gt=True)[0]
    gt = sample["depth_gt"]
    assert gt.shape == (1, 20, 40)  # the original image size
    assert gt[0, 9, 20] == pytest.approx(10.0) and int((gt > 0).sum()) == 1  # see tests/data/test_kitti.py


def test_missing_scan_names_the_file(kitti):
    root, split = kitti
    (root / DRIVE / "velodyne_points" / "data" / "0000000002.bin").unlink()
    with pytest.raises(FileNotFoundError, match="0000000002.bin"):
        KITTIRawDataset(root, split, H, W, img_ext="png", load_depth_gt=True)


def test_default_intrinsics_without_calibration(kitti):
    root, split = kitti
    (root / "2011_09_26" / "calib_cam_to_cam.txt").unlink()
    K = KITTIRawDataset(root, split, H, W, img_ext="png")[0]["K_0"]
    torch.testing.assert_close(K, torch.tensor([[0.58 * W, 0, 0.5 * W], [0, 1.92 * H, 0.5 * H], [0, 0, 1]]))


def test_jpg_frames(kitti):
    root, split = kitti
    assert len(KITTIRawDataset(root, split, H, W, img_ext="jpg")) == 0  # only png frames exist
    for path in (root / DRIVE).glob("image_0*/data/*.png"):
        Image.open(path).save(path.with_suffix(".jpg"), quality=95)
        path.unlink()
    sample = KITTIRawDataset(root, split, H, W, img_ext="jpg")[1]
    assert abs(float(sample["color_0"].mean()) - 200 / 255) < 0.02


def test_bad_split_line_names_file_and_line(kitti):
    root, split = kitti
    split.write_text(f"{DRIVE} 1 l\n{DRIVE} 2 left\n")
    with pytest.raises(ValueError, match=r"train_files.txt:2"):
        KITTIRawDataset(root, split, H, W, img_ext="png")


def test_frame_source_finds_jpg_frames_and_reads_the_scan_at_the_image_size(kitti):
    root, _ = kitti
    jpg = root / DRIVE / "image_02" / "data" / f"{2:010d}.jpg"
    png = jpg.with_suffix(".png")
    Image.open(png).save(jpg)
    png.unlink()
    source = KittiRawFrames(root)
    ref = FrameRef(DRIVE, 2)
    assert source.exists(ref) and source.load_image(ref).size == (40, 20)
    assert not source.exists(ref.at(4)) and not source.exists(ref.at(-1))
    assert source.gt_depth(ref).shape == (20, 40) and (source.gt_depth(ref) > 0).sum() == 1
    assert source.gt_motion(ref, ref.at(3)) is None  # no poses_dir
    assert not KittiRawFrames(root, img_ext="png").exists(ref)
