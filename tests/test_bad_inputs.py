"""Every bad input of docs/robustness.md through the command line: a one-line error naming the file or option,
exit code 1, nothing left behind and no code run from a data file; or, where the input is usable, the documented
conversion (16-bit and grey frames, rescaled intrinsics, downscaled large frames, 16-bit depth with its factor)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from test_io import Payload, write_payload_npy, write_payload_npz

from tcdepth.cli.main import main
from tcdepth.config import save_config
from tcdepth.data.base import read_rgb
from tcdepth.experiment import ExperimentConfig
from tcdepth.models import ModelConfig, build_model, build_pose_net, save_weights
from tcdepth.synth import SynthConfig, write_dataset

CONFIG = Path(__file__).parents[1] / "configs" / "synthetic_tiny.yaml"
HEIGHT, WIDTH = 64, 128


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad_inputs")
    write_dataset(SynthConfig(frames=6, width=WIDTH, height=HEIGHT, flow_range=1), root / "native", sequences=1,
                  seed=3)
    (root / "split.txt").write_text("seq_000 2\nseq_000 3\n")
    torch.manual_seed(0)
    model_cfg = ModelConfig(encoder="drn_tiny", tiny_width=0.125, num_blocks=1)
    experiment = ExperimentConfig(model=model_cfg)
    experiment.data.height, experiment.data.width = HEIGHT, WIDTH
    save_config(experiment, root / "run" / "config.yaml")
    save_weights(build_model(model_cfg), model_cfg, root / "run" / "depth.safetensors")
    save_weights(build_pose_net(model_cfg), model_cfg, root / "run" / "pose.safetensors")
    frames = root / "frames"
    frames.mkdir()
    for i in range(3):
        Image.open(root / "native" / "seq_000" / "rgb" / f"{i:06d}.png").save(frames / f"{i:03d}.png")
    return root


def run_cli(capsys, *args) -> tuple[int, str]:
    """Exit code and stderr of ``tcdepth ARGS``."""
    capsys.readouterr()
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def assert_one_line_error(code: int, err: str, *names: str) -> None:
    errors = [line for line in err.splitlines() if "error:" in line]
    assert code == 1 and len(errors) == 1, err
    assert "Traceback" not in err
    for name in names:
        assert name in errors[0], errors[0]


def evaluate_args(data: Path, *extra) -> list:
    return ["evaluate", "--data", "synthetic", "--data-path", data / "native", "--split-file", data / "split.txt",
            *extra]


def predict_args(data: Path, out: Path, *extra) -> list:
    return ["predict", data / "run", data / "frames", "--out", out, "--no-progress", *extra]


# ----------------------------------------------------------------------------------------- no code from data files
@pytest.mark.parametrize("option, suffix", [("--gt", ".npz"), ("--pred-npz", ".npz"), ("--pred-npz", ".npy")])
def test_evaluate_refuses_pickled_payloads(data, tmp_path, capsys, option, suffix):
    marker = tmp_path / "ran"
    evil = tmp_path / f"evil{suffix}"
    (write_payload_npz if suffix == ".npz" else write_payload_npy)(evil, marker)
    model = [] if option == "--pred-npz" else [data / "run"]
    code, err = run_cli(capsys, *evaluate_args(data, *model, option, evil))
    assert_one_line_error(code, err, str(evil), "refused")
    assert not marker.exists()


def test_evaluate_refuses_a_payload_in_the_dataset_ground_truth(data, tmp_path, capsys):
    import shutil

    root = tmp_path / "native"
    shutil.copytree(data / "native", root)
    marker = tmp_path / "ran"
    write_payload_npy(root / "seq_000" / "depth" / "000002.npy", marker)
    code, err = run_cli(capsys, "evaluate", data / "run", "--data", "synthetic", "--data-path", root,
                        "--split-file", data / "split.txt")
    assert_one_line_error(code, err, "000002.npy", "refused")
    assert not marker.exists()


def test_yaml_tags_that_run_code_are_refused(data, tmp_path, capsys):
    marker = tmp_path / "ran"
    evil = f"!!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path ['{marker}']]\n"
    (tmp_path / "config.yaml").write_text("name: x\ndata: " + evil)
    code, err = run_cli(capsys, "train", tmp_path / "config.yaml", f"train.out_dir={tmp_path / 'runs'}")
    assert_one_line_error(code, err, "config.yaml")
    code, err = run_cli(capsys, "info", tmp_path / "config.yaml")
    assert_one_line_error(code, err, "config.yaml")
    (tmp_path / "camera.yaml").write_text(evil)
    code, err = run_cli(capsys, *predict_args(data, tmp_path / "out"), "--intrinsics", tmp_path / "camera.yaml")
    assert_one_line_error(code, err, "camera.yaml")
    assert not marker.exists() and not (tmp_path / "runs").exists() and not (tmp_path / "out").exists()


def test_a_pickle_posing_as_weights_is_refused(data, tmp_path, capsys):
    marker = tmp_path / "ran"
    evil = tmp_path / "depth.safetensors"
    torch.save({"x": Payload(marker)}, evil)
    code, err = run_cli(capsys, "predict", evil, data / "frames", "--out", tmp_path / "out2", "--no-progress")
    assert_one_line_error(code, err, str(evil), "not a safetensors file")
    code, err = run_cli(capsys, "export", "--onnx", evil, tmp_path / "depth.onnx")
    assert_one_line_error(code, err, str(evil), "not a safetensors file")
    assert not marker.exists() and not (tmp_path / "out2").exists() and not (tmp_path / "depth.onnx").exists()


# ----------------------------------------------------------------------------------------- output paths
@pytest.mark.parametrize("command", ["synth", "predict", "evaluate", "train", "export"])
def test_an_output_path_that_is_a_file_is_refused(data, tmp_path, capsys, command):
    taken = tmp_path / "taken"
    taken.write_text("keep me")
    args = {"synth": ["synth", taken, "--frames", "3", "--width", "32", "--height", "16"],
            "predict": predict_args(data, taken),
            "evaluate": evaluate_args(data, data / "run", "--out", taken),
            "train": ["train", CONFIG, f"train.out_dir={taken}", f"data.path={data / 'native'}",
                      "train.teacher.mode=none", "loss.use_motion_loss=false"],
            "export": ["export", "--onnx", data / "run", tmp_path]}[command]
    code, err = run_cli(capsys, *args)
    assert_one_line_error(code, err, str(tmp_path))
    assert taken.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_a_full_disk_is_one_line_and_leaves_no_output(data, tmp_path, capsys, monkeypatch):
    import tcdepth.io

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(tcdepth.io.os, "replace", full)
    out = tmp_path / "out"
    code, err = run_cli(capsys, *predict_args(data, out))
    assert_one_line_error(code, err, "the disk is full")
    assert not out.exists()


# ----------------------------------------------------------------------------------------- training inputs
@pytest.mark.parametrize("override, message", [
    ("train.max_steps=-5", "max_steps must be positive or -1"),
    ("train.keep_checkpoints=0", "keep_checkpoints must be positive"),
    ("train.teacher.path=/nonexistent/teacher", "/nonexistent/teacher"),
])
def test_refused_training_settings_leave_no_run_directory(data, tmp_path, capsys, override, message):
    out = tmp_path / "runs"
    code, err = run_cli(capsys, "train", CONFIG, f"train.out_dir={out}", f"data.path={data / 'native'}", override)
    assert_one_line_error(code, err, message)
    assert not out.exists()


def test_too_small_a_training_set_leaves_no_run_directory(data, tmp_path, capsys):
    out = tmp_path / "runs"
    code, err = run_cli(capsys, "train", CONFIG, f"train.out_dir={out}", f"data.path={data / 'native'}",
                        "data.height=64", "data.width=128", "train.batch_size=64", "train.teacher.mode=none",
                        "loss.use_motion_loss=false")
    assert_one_line_error(code, err, "fewer than one batch")
    assert not out.exists()


# ----------------------------------------------------------------------------------------- frames and cameras
def test_16_bit_and_grey_frames_are_converted_not_clipped(tmp_path):
    ramp = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    rgb = np.asarray(read_rgb(tmp_path / "deep.png"))
    np.testing.assert_array_equal(rgb[..., 0], np.round(ramp / 257.0).astype(np.uint8))
    assert np.array_equal(rgb[..., 0], rgb[..., 2]) and rgb.min() == 0 and rgb.max() == round(63000 / 257)
    grey = (np.arange(64, dtype=np.uint8).reshape(8, 8) * 4).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    np.testing.assert_array_equal(np.asarray(read_rgb(tmp_path / "grey.png")), np.repeat(grey[..., None], 3, -1))


def write_camera(path: Path, width: int, height: int, cx: float | None = None) -> Path:
    path.write_text(yaml.safe_dump({"fx": 0.58 * width, "fy": 0.58 * width, "cx": cx if cx is not None else width / 2,
                                    "cy": height / 2, "width": width, "height": height}))
    return path


def test_intrinsics_of_another_size_are_rescaled_or_refused(data, tmp_path, capsys, caplog):
    # the frames are 128x64 (aspect 2.0)
    code, err = run_cli(capsys, *predict_args(data, tmp_path / "a", "--npz"), "--intrinsics",
                        write_camera(tmp_path / "same_aspect.yaml", 256, 128))
    assert code == 0 and "given for 256x128 images, the frames are 128x64: rescaled" in caplog.text
    K = np.load(tmp_path / "a" / "depth_npz" / "000000.npz")["K"]
    assert K[0, 0] == pytest.approx(0.58 * 128) and K[0, 2] == pytest.approx(64, abs=0.5)
    code, err = run_cli(capsys, *predict_args(data, tmp_path / "b"), "--intrinsics",
                        write_camera(tmp_path / "kitti.yaml", 1242, 375))
    assert_one_line_error(code, err, "given for 1242x375", "128x64")
    assert not (tmp_path / "b").exists()
    code, err = run_cli(capsys, *predict_args(data, tmp_path / "c"), "--intrinsics",
                        write_camera(tmp_path / "far.yaml", 128, 64, cx=5000))
    assert_one_line_error(code, err, "far.yaml", "principal point")


def test_large_frames_are_downscaled_with_a_notice(data, tmp_path, capsys):
    code, err = run_cli(capsys, *predict_args(data, tmp_path / "out", "--npz", "--max-pixels", "2048"))
    assert code == 0 and "more than --max-pixels 2048: predicting and writing them at 64x32" in err
    assert np.load(tmp_path / "out" / "depth_npz" / "000000.npz")["depth"].shape == (32, 64)


def test_relative_png16_uses_the_16_bit_range_and_records_its_factor(data, tmp_path, capsys):
    code, _ = run_cli(capsys, *predict_args(data, tmp_path / "out", "--png16", "--npz"))
    assert code == 0
    factors = json.loads((tmp_path / "out" / "depth_png16" / "scale.json").read_text())["factor"]
    for name, factor in factors.items():
        png = np.asarray(Image.open(tmp_path / "out" / "depth_png16" / f"{name}.png")).astype(np.float64)
        depth = np.load(tmp_path / "out" / "depth_npz" / f"{name}.npz")["depth"]
        kitti_levels = len(np.unique(np.round(depth * 256)))  # what metres x 256 kept of the relative depth
        assert png.max() == 65535 and len(np.unique(png)) > 50 * kitti_levels
        np.testing.assert_allclose(png / factor, depth, atol=0.5 / factor + 1e-7)


def test_predict_progress_has_a_total(data, tmp_path, capsys):
    capsys.readouterr()
    assert main(["predict", str(data / "run"), str(data / "frames"), "--out", str(tmp_path / "out")]) == 0
    assert "/3 " in capsys.readouterr().err


def test_synth_without_correspondences(tmp_path, capsys):
    code, _ = run_cli(capsys, "synth", tmp_path / "d", "--frames", "3", "--width", "32", "--height", "16",
                      "--sequences", "1", "--flow-range", "0")
    assert code == 0
    assert (tmp_path / "d" / "seq_000" / "rgb" / "000000.png").is_file()
    assert not list((tmp_path / "d").rglob("*.npz"))


def test_debug_shows_the_traceback(data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TCDEPTH_DEBUG", "1")
    with pytest.raises(ValueError, match="max_steps"):
        main(["train", str(CONFIG), "train.max_steps=-5", f"train.out_dir={tmp_path}"])
    assert os.environ["TCDEPTH_DEBUG"] == "1"
