"""Every command accepts an imported run: predict, evaluate (with TCM and test-time refinement), export --onnx,
info, and train (the imported Monodepth2 run as the teacher, the imported TC-Depth run as the initial weights).

The official folders are rebuilt from the fixture at a small training size (64 x 128) so that each command runs in
seconds on a CPU."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from evaluation.test_evaluate_cli import finite_numbers
from PIL import Image

from tcdepth.cli.main import main
from tcdepth.runs import Run, load_trained_model
from tcdepth.synth.config import SynthConfig
from tcdepth.synth.writers import write_dataset

from . import official_fixture

HEIGHT, WIDTH, FRAMES = 64, 128, 8


@pytest.fixture(scope="module")
def small_runs(fixture_dir, tmp_path_factory) -> dict[str, Run]:
    root = tmp_path_factory.mktemp("small")
    folders = official_fixture.build_folders(fixture_dir, root / "official", size=(HEIGHT, WIDTH))
    runs = {}
    for name, folder in folders.items():
        assert main(["import-weights", str(folder), str(root / name)]) == 0
        runs[name] = Run(root / name)
    return runs


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    write_dataset(SynthConfig(frames=FRAMES, width=WIDTH, height=HEIGHT, flow_range=2), root, sequences=1, seed=3,
                  layout="native")
    return root


def test_predict(small_runs, tmp_path, arrays):
    frames = tmp_path / "frames"
    frames.mkdir()
    for index, view in enumerate((1, 0, 2)):  # item 0 in time order
        Image.fromarray(arrays["input_color_s2"][0, view].transpose(1, 2, 0)).save(frames / f"{index:03d}.png")
    assert main(["predict", str(small_runs["tc"].path), str(frames), "--out", str(tmp_path / "out"), "--npz",
                 "--no-progress"]) == 0
    outputs = sorted((tmp_path / "out").rglob("*.npz"))
    assert len(outputs) == 3
    for path in outputs:
        with np.load(path) as data:
            assert np.isfinite(data["depth"]).all() and (data["depth"] > 0).all()


@pytest.mark.parametrize("name", ["tc", "md2"])
def test_evaluate_with_tcm_and_test_time_refinement(name, small_runs, synthetic, tmp_path):
    split = tmp_path / "split.txt"
    split.write_text("seq_000 2\nseq_000 3\nseq_000 4\n")
    out = tmp_path / "eval"
    assert main(["evaluate", str(small_runs[name].path), "--data", "synthetic", "--data-path", str(synthetic),
                 "--split-file", str(split), "--tcm", "3", "--ttr", "--ttr-steps", "1", "--ttr-batch-size", "1",
                 "--out", str(out)]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["eigen"]["num_images"] == 3 and report["tcm"]["3"]["num_pairs"] > 0
    assert finite_numbers(report)


def test_export_onnx_matches_pytorch(small_runs, tmp_path):
    out = tmp_path / "tc.onnx"
    assert main(["export", "--onnx", str(small_runs["tc"].path), str(out)]) == 0
    model = load_trained_model(small_runs["tc"].path)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    frames = torch.rand(1, 3, 3, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(0))
    K = torch.tensor([[[60.0, 0, 63.5], [0, 60.0, 31.5], [0, 0, 1]]])
    assert [i.name for i in session.get_inputs()] == ["frames", "K"]  # K stays an input, unused by the KITTI camera
    disp, _ = session.run(None, {"frames": frames.numpy(), "K": K.numpy()})
    with torch.no_grad():
        reference = model.depth_net.eval()(frames, K)["disp"][0][:, 0]
    np.testing.assert_allclose(disp, reference.numpy(), atol=1e-4)


@pytest.mark.parametrize("name", ["tc", "md2"])
def test_info_counts_the_imported_parameters(name, small_runs, capsys):
    assert main(["info", str(small_runs[name].path), "--height", str(HEIGHT), "--width", str(WIDTH), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    loaded = load_trained_model(small_runs[name].path)
    expected = sum(p.numel() for net in (loaded.depth_net, loaded.pose_net) for p in net.parameters())
    assert report["total"]["params"] == expected and report["model"]["architecture"] == loaded.model_config.architecture


def test_training_from_imported_weights_with_the_imported_teacher(small_runs, synthetic, tmp_path):
    """Fine-tuning: the TC-Depth run's own config.yaml with train.init_from pointing at it, the imported Monodepth2
    run as the frozen teacher. A learning rate of 1e-9 keeps the weights at the imported ones after a step."""
    tc, md2 = small_runs["tc"], small_runs["md2"]
    assert main(["train", str(tc.config_path), "name=finetuned", f"train.out_dir={tmp_path}", f"data.path={synthetic}",
                 "data.num_workers=0", "train.epochs=1", "train.max_steps=1", "train.batch_size=1",
                 "train.val_every_epochs=2", "train.learning_rate=1.0e-9", "train.accelerator=cpu",
                 "train.teacher.mode=checkpoint",
                 f"train.teacher.path={md2.path}", f"train.init_from={tc.path}", "--no-progress"]) == 0
    finetuned = load_trained_model(tmp_path / "finetuned")
    imported = load_trained_model(tc.path)
    assert finetuned.model_config == imported.model_config
    for a, b in ((finetuned.depth_net, imported.depth_net), (finetuned.pose_net, imported.pose_net)):
        for (key, value), reference in zip(a.named_parameters(), b.parameters(), strict=True):
            torch.testing.assert_close(value, reference, atol=1e-6, rtol=0, msg=key)


def test_init_from_a_run_of_another_architecture_is_refused(small_runs, synthetic, tmp_path, capsys):
    assert main(["train", str(small_runs["tc"].config_path), f"train.out_dir={tmp_path}", f"data.path={synthetic}",
                 "data.num_workers=0", "train.batch_size=1", "model.num_blocks=1", "model.sigma=0.25",
                 f"train.init_from={small_runs['tc'].path}",
                 "train.teacher.mode=none", "loss.use_motion_loss=false", "--no-progress"]) == 1
    error = capsys.readouterr().err
    assert "its depth network does not fit the model section" in error and "st_module.spatial.1" in error
