"""End-to-end tests of `tcdepth evaluate` and `tcdepth make-tcm-gt` on tiny rendered datasets (native and KITTI
layouts) with a tiny random-weight model."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from tcdepth.cli.main import main
from tcdepth.config import save_config
from tcdepth.evaluation.predict import plan_triplet
from tcdepth.experiment import ExperimentConfig
from tcdepth.models import ModelConfig, build_model, build_pose_net, save_weights
from tcdepth.synth.config import SynthConfig
from tcdepth.synth.writers import write_dataset

FRAMES, HEIGHT, WIDTH = 8, 64, 128


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    cfg = SynthConfig(frames=FRAMES, width=WIDTH, height=HEIGHT, flow_range=3)
    write_dataset(cfg, root / "native", sequences=1, seed=3, layout="native")
    write_dataset(cfg, root / "kitti", sequences=1, seed=3, layout="kitti")
    (root / "native_split.txt").write_text("seq_000 0\nseq_000 3\nseq_000 4\nseq_000 7\n")
    drive = "2000_01_01/2000_01_01_drive_0001_sync"
    (root / "kitti_split.txt").write_text(f"{drive} 0 l\n{drive} 3 l\n{drive} 7 l\n")
    torch.manual_seed(0)
    model_cfg = ModelConfig(encoder="drn_tiny", tiny_width=0.125, num_blocks=1)
    experiment = ExperimentConfig(model=model_cfg)
    experiment.data.height, experiment.data.width = HEIGHT, WIDTH
    run = root / "run"
    save_config(experiment, run / "config.yaml")
    save_weights(build_model(model_cfg), model_cfg, run / "depth.safetensors")
    save_weights(build_pose_net(model_cfg), model_cfg, run / "pose.safetensors")
    return root


def finite_numbers(tree) -> bool:
    if isinstance(tree, dict):
        return all(finite_numbers(v) for v in tree.values())
    if isinstance(tree, list):
        return all(finite_numbers(v) for v in tree)
    return not isinstance(tree, float) or math.isfinite(tree)


def test_plan_triplet_uses_real_neighbours_and_falls_back_only_when_it_must():
    in_sequence = lambda n: (lambda f: 0 <= f < n)  # noqa: E731
    assert plan_triplet(in_sequence(8), 3).frames == (3, 2, 4)
    first = plan_triplet(in_sequence(8), 0)
    assert (first.frames, first.view, first.fallback) == ((1, 0, 2), 1, "shifted")
    last = plan_triplet(in_sequence(8), 7)
    assert (last.frames, last.view, last.fallback) == ((6, 5, 7), 2, "shifted")
    assert last.frames[last.view] == 7 and first.frames[first.view] == 0
    short = plan_triplet(in_sequence(2), 0)
    assert (short.frames, short.fallback) == ((0, 0, 1), "duplicated")
    assert plan_triplet(in_sequence(8), 0, num_views=1).frames == (0,)


def test_native_end_to_end_writes_every_output(data, capsys):
    out = data / "out_native"
    code = main(["evaluate", str(data / "run"), "--data", "synthetic", "--data-path", str(data / "native"),
                 "--split-file", str(data / "native_split.txt"), "--tcm", "3", "5", "7", "--post-process",
                 "--out", str(out)])
    assert code == 0
    assert "&" in capsys.readouterr().out
    report = json.loads((out / "metrics.json").read_text())
    assert finite_numbers(report)
    assert report["eigen"]["num_images"] == 4
    assert report["boundary_fallbacks"]["shifted"] == 2  # frames 0 and 7
    # frames 3 and 4 have +-3 neighbours inside the 8-frame sequence; 0 and 7 do not
    assert report["tcm"]["7"]["num_pairs"] == 2 * 6 and len(report["tcm"]["7"]["skipped_snippets"]) == 2
    assert report["flicker"]["pairs"] == 3 and report["flicker"]["pairs_gt_motion"] == 3
    assert len((out / "per_image.csv").read_text().splitlines()) == 5
    for name in ("tcm_3.csv", "tcm_5.csv", "tcm_7.csv", "table.txt"):
        assert (out / name).is_file()


def test_kitti_gt_matches_renderer_and_perfect_prediction_scores_zero(data):
    gt_file = data / "gt_depths.npz"
    assert main(["export-gt", "--data-path", str(data / "kitti"), "--split", "eigen", "--split-file",
                 str(data / "kitti_split.txt"), "--out", str(gt_file)]) == 0
    gt = np.load(gt_file, allow_pickle=True)["data"]
    rendered = [np.load(data / "native" / "seq_000" / "depth" / f"{f:06d}.npy") for f in (0, 3, 7)]
    # The Velodyne projection follows the devkit/Monodepth2 rule (pixel round(x) - 1), so the exported depth at
    # (v, u) is the rendered depth of pixel (v + 1, u + 1).
    shifted = [np.roll(d, (-1, -1), axis=(0, 1)) for d in rendered]
    for lidar, depth in zip(gt, shifted, strict=True):
        hit = (lidar > 0) & np.isfinite(depth)  # a beam can graze a silhouette whose pixel centre sees sky
        assert hit.sum() > 100
        assert np.median(np.abs(lidar[hit] - depth[hit]) / depth[hit]) < 0.02
    disps = np.stack([1.0 / np.where(np.isfinite(d), d, 1e3) for d in shifted]).astype(np.float32)
    pred = data / "perfect.npy"
    np.save(pred, disps)
    out = data / "out_perfect"
    assert main(["evaluate", "--pred-npz", str(pred), "--data", "kitti", "--data-path", str(data / "kitti"),
                 "--split-file", str(data / "kitti_split.txt"), "--gt", str(gt_file), "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())["eigen"]
    assert metrics["metrics"]["abs_rel"] < 0.05  # mean: includes beams at silhouettes
    assert metrics["metrics"]["a1"] > 0.95
    # the renderer's depth against itself: exactly perfect through the same path
    native_gt = data / "native_gt.npz"
    np.savez(native_gt, data=np.array([np.where(np.isfinite(d), d, 0) for d in shifted] + [None],
                                      dtype=object)[:-1])
    out2 = data / "out_self"
    assert main(["evaluate", "--pred-npz", str(pred), "--data", "kitti", "--data-path", str(data / "kitti"),
                 "--split-file", str(data / "kitti_split.txt"), "--gt", str(native_gt), "--out", str(out2)]) == 0
    exact = json.loads((out2 / "metrics.json").read_text())["eigen"]
    assert exact["metrics"]["abs_rel"] < 1e-6 and exact["metrics"]["a1"] == 1.0
    assert exact["median_scaling"]["ratio_median"] == pytest.approx(1.0, abs=1e-6)


def test_kitti_model_with_make_tcm_gt(data):
    tcm_dir = data / "tcm_gt"
    drive = "2000_01_01/2000_01_01_drive_0001_sync"
    split = data / "tcm_split.txt"
    split.write_text(f"{drive} 3 l\n{drive} 4 l\n")
    assert main(["make-tcm-gt", "--data-path", str(data / "kitti"), "--poses-dir", str(data / "kitti" / "poses"),
                 "--split-file", str(split), "--window", "3", "--out", str(tcm_dir)]) == 0
    assert len(list(tcm_dir.glob("*.npz"))) == 2
    out = data / "out_kitti"
    assert main(["evaluate", str(data / "run"), "--data", "kitti", "--data-path", str(data / "kitti"),
                 "--split-file", str(data / "kitti_split.txt"), "--tcm", "3", "--tcm-gt", str(tcm_dir),
                 "--poses-dir", str(data / "kitti" / "poses"), "--out", str(out)]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert finite_numbers(report)
    assert report["tcm"]["3"]["num_pairs"] == 4
    assert report["flicker"]["pairs_gt_motion"] == 2  # frames 0 and 3 have a next frame, 7 does not


def test_bad_input_is_named_and_skipped_only_when_asked(data, capsys):
    split = data / "bad_split.txt"
    split.write_text("seq_000 3\nseq_000 42\n")
    args = ["evaluate", str(data / "run"), "--data", "synthetic", "--data-path", str(data / "native"),
            "--split-file", str(split)]
    assert main(args) == 1
    assert "000042" in capsys.readouterr().err
    out = data / "out_skip"
    assert main([*args, "--skip-bad", "--out", str(out)]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["eigen"]["num_images"] == 1
    assert [s["name"] for s in report["eigen"]["skipped"]] == ["seq_000 42"]
    wrong_gt = data / "wrong_gt.npz"
    np.savez(wrong_gt, data=np.zeros((5, HEIGHT, WIDTH), np.float32))
    assert main([*args[:-2], "--split-file", str(data / "native_split.txt"), "--gt", str(wrong_gt)]) == 1
    assert "5 depth maps" in capsys.readouterr().err
