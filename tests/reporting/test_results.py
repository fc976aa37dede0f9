"""`tcdepth results` on a tiny run evaluated in the test (random-weight tiny TC-Depth, rendered data): the
markdown table holds the numbers of metrics.json and the run's config and run_info.json."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from tcdepth.cli.main import main
from tcdepth.config import save_config
from tcdepth.experiment import ExperimentConfig
from tcdepth.models import ModelConfig, build_model, build_pose_net, save_weights
from tcdepth.runs import Run
from tcdepth.synth.config import SynthConfig
from tcdepth.synth.writers import write_dataset

FRAMES, HEIGHT, WIDTH = 9, 64, 128


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    write_dataset(SynthConfig(frames=FRAMES, width=WIDTH, height=HEIGHT, flow_range=3), root / "data", sequences=1,
                  seed=5, layout="native")
    (root / "split.txt").write_text("seq_000 4\nseq_000 5\n")
    torch.manual_seed(0)
    model_cfg = ModelConfig(encoder="drn_tiny", tiny_width=0.125, num_blocks=1)
    experiment = ExperimentConfig(name="tiny_run", model=model_cfg)
    experiment.data.height, experiment.data.width = HEIGHT, WIDTH
    run = root / "tiny_run"
    save_config(experiment, run / "config.yaml")
    save_weights(build_model(model_cfg), model_cfg, run / "depth.safetensors")
    save_weights(build_pose_net(model_cfg), model_cfg, run / "pose.safetensors")
    Run(run).write_info("cpu (2 cores, x86_64)", 7, 61.0)
    assert main(["evaluate", str(run), "--data", "synthetic", "--data-path", str(root / "data"), "--split-file",
                 str(root / "split.txt"), "--tcm", "3", "5", "7", "--out", str(run / "evaluation")]) == 0
    shutil.copytree(run / "evaluation", root / "elsewhere")
    return root


def table_rows(markdown: str) -> list[list[str]]:
    lines = markdown.strip().splitlines()
    assert set(lines[1]) <= set("|-")
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in [lines[0], *lines[2:]]]


def test_results_table_of_a_run_directory(evaluated, capsys):
    out = evaluated / "results.md"
    assert main(["results", str(evaluated / "tiny_run"), "--out", str(out)]) == 0
    assert out.read_text() in capsys.readouterr().out
    header, *rows = table_rows(out.read_text())
    assert header == ["method", "abs_rel", "sq_rel", "rmse", "a1", "TCM-3 abs", "TCM-5 abs", "TCM-7 abs", "device",
                      "resolution", "steps", "wall time"]
    assert len(rows) == 1
    row = dict(zip(header, rows[0], strict=True))
    metrics = json.loads((evaluated / "tiny_run" / "evaluation" / "metrics.json").read_text())
    for name in ("abs_rel", "sq_rel", "rmse", "a1"):
        assert float(row[name]) == pytest.approx(metrics["eigen"]["metrics"][name], abs=5e-5)
    for window in (3, 5, 7):
        assert float(row[f"TCM-{window} abs"]) == pytest.approx(metrics["tcm"][str(window)]["metrics"]["abs"],
                                                                abs=5e-5)
    assert row["method"] == "TC-Depth (tiny_run)"
    assert (row["device"], row["resolution"], row["steps"], row["wall time"]) == ("cpu (2 cores, x86_64)",
                                                                                  "64x128", "7", "1m01s")


def test_an_evaluation_folder_outside_its_run_finds_the_run_through_its_source(evaluated, capsys):
    assert main(["results", str(evaluated / "elsewhere")]) == 0
    _, row = table_rows(capsys.readouterr().out)
    assert row[0] == "TC-Depth (tiny_run)" and row[-2:] == ["7", "1m01s"]


def test_an_evaluation_given_a_relative_run_path_finds_its_run_from_another_folder(evaluated, tmp_path, monkeypatch,
                                                                                      capsys):
    monkeypatch.chdir(evaluated)
    assert main(["evaluate", "tiny_run", "--data", "synthetic", "--data-path", "data", "--split-file", "split.txt",
                 "--tcm", "3", "--out", str(tmp_path / "evaluation")]) == 0
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["results", "evaluation"]) == 0
    _, row = table_rows(capsys.readouterr().out)
    assert row[0] == "TC-Depth (tiny_run)" and row[-2:] == ["7", "1m01s"]


def test_a_folder_without_outputs_is_named_in_the_error(evaluated, tmp_path, capsys):
    assert main(["results", str(tmp_path)]) == 1
    assert str(tmp_path) in capsys.readouterr().err


def test_seed_summary_gives_mean_and_sample_spread_per_method():
    from pathlib import Path

    from tcdepth.reporting import ResultRow, seed_summary_markdown

    def row(method, abs_rel):
        return ResultRow(method, Path("."), {"abs_rel": abs_rel, "sq_rel": 1.0, "rmse": 2.0, "a1": 0.5},
                         {3: 0.1}, None, None, None, None)

    rows = [row("TC-Depth (tcdepth)", 0.2), row("Monodepth2 (md2)", 0.4), row("TC-Depth (tcdepth_seed1)", 0.3),
            row("TC-Depth (tcdepth_seed2)", 0.4)]
    header, *body = table_rows(seed_summary_markdown(rows))
    assert header[:3] == ["method", "seeds", "abs_rel"]
    assert body[0][:3] == ["TC-Depth (tcdepth)", "3", "0.3000 ± 0.1000"]  # std of 0.2, 0.3, 0.4 with n - 1
    assert body[1][:4] == ["Monodepth2 (md2)", "1", "0.4000 ± 0.0000", "1.0000 ± 0.0000"]
    assert body[0][-1] == "nan ± nan"  # TCM-7 was not evaluated
