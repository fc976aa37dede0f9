"""``tcdepth predict`` on a synthetic mp4: every output written and consistent; bad input leaves no files."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tcdepth.cli.main import main

from .clip import FRAME_HEIGHT, FRAME_WIDTH, NUM_FRAMES, clip_frames
from .test_outputs import read_ply


def files_under(path):
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


def test_every_output_is_written_and_consistent(run_dir, clip_mp4, tmp_path):
    import av

    out = tmp_path / "out"
    code = main(["predict", str(run_dir), str(clip_mp4), "--out", str(out), "--png16", "--npz", "--color",
                 "--video", "--ply", "--fused-ply", "--fused-step", "2", "--scale", "3", "--no-progress"])
    assert code == 0
    names = [f"{i:06d}" for i in range(NUM_FRAMES)]
    fused_count = 0
    with av.open(str(clip_mp4)) as container:
        first_frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    for name in names:
        npz = np.load(out / "depth_npz" / f"{name}.npz")
        depth = npz["depth"]
        assert depth.shape == (FRAME_HEIGHT, FRAME_WIDTH) and bool(npz["metric"]) and float(npz["scale"]) == 3
        with Image.open(out / "depth_png16" / f"{name}.png") as png:
            np.testing.assert_allclose(np.asarray(png) / 256.0, depth, atol=0.5 / 256 + 1e-6)
        with Image.open(out / "depth_color" / f"{name}.png") as color:
            assert color.mode == "RGB" and color.size == (FRAME_WIDTH, FRAME_HEIGHT)
        points, colors = read_ply(out / "ply" / f"{name}.ply")
        assert len(points) == FRAME_HEIGHT * FRAME_WIDTH
        np.testing.assert_allclose(points[:, 2], depth.reshape(-1), rtol=1e-5)
        if name == "000000":
            np.testing.assert_array_equal(colors, first_frame.reshape(-1, 3))
        fused_count += int(np.isfinite(depth[::2, ::2]).sum())
    fused_points, _ = read_ply(out / "fused.ply")
    assert len(fused_points) == fused_count
    first = np.load(out / "depth_npz" / "000000.npz")
    np.testing.assert_allclose(first["camera_to_world"], np.eye(4), atol=1e-6)
    with av.open(str(out / "depth_video.mp4")) as container:
        video_frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(video_frames) == NUM_FRAMES
    assert video_frames[0].shape == (FRAME_HEIGHT, 2 * FRAME_WIDTH, 3)
    assert not [p for p in files_under(out) if ".tmp" in p.name]


def test_offline_batches_write_the_streamed_depth(run_dir, clip_mp4, tmp_path):
    outputs = {}
    for batch in ("1", "3"):
        out = tmp_path / f"batch{batch}"
        assert main(["predict", str(run_dir), str(clip_mp4), "--out", str(out), "--npz", "--batch-size", batch,
                     "--no-progress"]) == 0
        outputs[batch] = [np.load(f)["depth"] for f in sorted((out / "depth_npz").glob("*.npz"))]
    assert len(outputs["3"]) == NUM_FRAMES
    for streamed, batched in zip(outputs["1"], outputs["3"], strict=True):
        np.testing.assert_allclose(batched, streamed, rtol=1e-4)


def test_camera_height_and_frame_selection(run_dir, tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(clip_frames()):
        Image.fromarray(frame).save(folder / f"{i:03d}.png")
    out = tmp_path / "out"
    code = main(["predict", str(run_dir), str(folder / "*.png"), "--out", str(out), "--npz", "--stride", "2",
                 "--max-frames", "2", "--no-progress"])
    assert code == 0
    assert [p.name for p in files_under(out)] == ["000000.npz", "000001.npz"]
    assert "relative depth" in capsys.readouterr().err


def test_bad_inputs_are_clear_errors_and_leave_no_files(run_dir, clip_mp4, tmp_path, capsys, tiny_cfg):
    from tcdepth.models import ModelConfig, build_model, save_weights

    out = tmp_path / "out"
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video")
    empty = tmp_path / "empty"
    empty.mkdir()
    bad_intrinsics = tmp_path / "cam.yaml"
    bad_intrinsics.write_text("fx: 100\nfy: 100\n")
    wrong = tmp_path / "wrong.safetensors"
    save_weights(build_model(ModelConfig(architecture="monodepth2", encoder="resnet18")), tiny_cfg, wrong)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i, frame in enumerate(clip_frames(4)):
        Image.fromarray(frame if i < 3 else frame[:32]).save(mixed / f"{i:03d}.png")
    cases = [
        ([str(run_dir), str(broken)], "cannot decode video"),
        ([str(run_dir), str(empty)], "holds no"),
        ([str(run_dir), str(clip_mp4), "--intrinsics", str(bad_intrinsics)], "missing key"),
        ([str(wrong), str(clip_mp4)], "do not match"),
        ([str(run_dir), str(mixed), "--png16", "--ply", "--video"], "earlier frames"),
    ]
    for argv, message in cases:
        code = main(["predict", *argv, "--out", str(out), "--no-progress"])
        assert code == 1, argv
        assert message in capsys.readouterr().err, argv
        assert files_under(out) == [], argv
