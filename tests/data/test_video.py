"""VideoDataset on an mp4 written with PyAV and on a frame folder: static-frame filter, stride, intrinsics."""

import av
import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from tcdepth.data.frames import FrameRef
from tcdepth.data.video import VideoDataset, VideoFrames

H, W = 32, 64


def moving_texture(num: int, repeat_after: int, repeats: int) -> list[np.ndarray]:
    """A random texture panned 3 px per frame; frame ``repeat_after`` is shown ``repeats`` extra times."""
    texture = np.random.default_rng(0).integers(0, 256, (64, 400, 3), dtype=np.uint8)
    texture = np.asarray(Image.fromarray(texture).resize((800, 128), Image.Resampling.BILINEAR))  # 2 px blobs
    frames = [np.ascontiguousarray(texture[:64, 3 * i: 3 * i + 128]) for i in range(num)]
    return frames[: repeat_after + 1] + [frames[repeat_after]] * repeats + frames[repeat_after + 1:]


def write_mp4(path, frames):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


@pytest.fixture
def intrinsics_file(tmp_path):
    path = tmp_path / "camera.yaml"  # refers to frames twice the size of the video (256 x 128)
    path.write_text(yaml.safe_dump({"fx": 200.0, "fy": 200.0, "cx": 128.0, "cy": 64.0, "width": 256, "height": 128}))
    return path


def test_mp4_static_frames_are_dropped(tmp_path, intrinsics_file, caplog):
    video = tmp_path / "clip.mp4"
    write_mp4(video, moving_texture(10, repeat_after=4, repeats=2))  # 12 frames, numbers 5 and 6 repeat frame 4
    with caplog.at_level("INFO"):
        ds = VideoDataset(video, intrinsics_file, H, W)
    assert ds.frame_size == (64, 128)
    assert ds.num_static == 2 and "dropped 2 static frame" in caplog.text
    assert ds.frame_numbers == [0, 1, 2, 3, 4, 7, 8, 9, 10, 11]
    assert len(ds) == 8 and ds.num_dropped == 2
    sample = ds[0]
    assert sample["color_0"].shape == (3, 3, H, W) and "depth_gt" not in sample
    # fx = 200 at 256 px -> 50 at 64 px; fy = 200 at 128 px -> 50 at 32 px
    torch.testing.assert_close(sample["K_0"], torch.tensor([[50.0, 0, 32], [0, 50, 16], [0, 0, 1]]))


def test_frame_folder_with_stride(tmp_path, intrinsics_file):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(moving_texture(9, repeat_after=0, repeats=0)):
        Image.fromarray(frame).save(folder / f"img_{i:03d}.png")
    ds = VideoDataset(folder, intrinsics_file, H, W, stride=2, static_threshold=0.0)
    assert ds.frame_numbers == [0, 2, 4, 6, 8] and ds.num_static == 0
    assert len(ds) == 3


def test_threshold_zero_keeps_repeats(tmp_path, intrinsics_file):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(moving_texture(4, repeat_after=1, repeats=1)):
        Image.fromarray(frame).save(folder / f"{i:03d}.png")
    assert VideoDataset(folder, intrinsics_file, H, W, static_threshold=0.0).frame_numbers == [0, 1, 2, 3, 4]
    assert VideoDataset(folder, intrinsics_file, H, W).frame_numbers == [0, 1, 3, 4]


def test_errors_name_the_file(tmp_path, intrinsics_file):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="broken.mp4"):
        VideoDataset(bad, intrinsics_file, H, W)
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "000.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match="000.png"):
        VideoDataset(folder, intrinsics_file, H, W)
    bad_yaml = tmp_path / "cam.yaml"
    bad_yaml.write_text("fx: 1\n")
    with pytest.raises(ValueError, match="cam.yaml"):
        VideoDataset(folder, bad_yaml, H, W)


def test_a_video_frame_source_has_frames_but_no_ground_truth(tmp_path, intrinsics_file):
    video = tmp_path / "clip.mp4"
    write_mp4(video, moving_texture(6, repeat_after=0, repeats=0))
    source = VideoFrames(video, intrinsics_file)
    refs = source.refs()
    assert [r.frame for r in refs] == list(range(6)) and {r.sequence for r in refs} == {"clip.mp4"}
    assert source.load_image(refs[3]).size == (128, 64)  # kept at the video's size without a size
    assert not source.exists(refs[0].at(6)) and not source.exists(FrameRef("other", 0))
    assert source.gt_motion(refs[0], refs[1]) is None
    with pytest.raises(FileNotFoundError, match="no ground-truth depth"):
        source.gt_depth(refs[0])
    with pytest.raises(ValueError, match="no split files"):
        source.read_split(tmp_path / "split.txt")
