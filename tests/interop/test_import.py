"""`tcdepth import-weights`: format detection, the imported run directory and its config, depth-only folders, and
refusals (code on load, missing / unexpected / mis-shaped keys, occupied target): nothing is written on failure."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from tcdepth.cli.main import main
from tcdepth.models import import_official
from tcdepth.runs import Run, load_trained_model


def variant(folder: Path, out: Path, skip: tuple[str, ...] = ()) -> Path:
    """A copy of an official folder made of links to its files (minus ``skip``), to be altered file by file."""
    out.mkdir()
    for path in folder.iterdir():
        if path.name not in skip:
            os.symlink(path, out / path.name)
    return out


def rewrite(folder: Path, name: str, change) -> None:
    """Replace the link ``folder/name`` by a real file holding ``change(state)``."""
    state = torch.load(folder / name, weights_only=True)
    (folder / name).unlink()
    torch.save(change(state), folder / name)


def import_fails(capsys, source: Path, target: Path, *extra: str) -> str:
    assert main(["import-weights", str(source), str(target), *extra]) == 1
    assert not target.exists()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.")]
    return capsys.readouterr().err


def test_imported_runs_hold_the_reference_settings(imported_runs, official_folders, fixture_dir):
    manifest = json.loads((fixture_dir / "manifest.json").read_text())
    sigmas = [float(torch.load(official_folders["tc"] / "spa_temp.pth", weights_only=True)
                    [f"module.{i}.spatial_attn.sigma_3d"]) for i in range(3)]
    tc = Run(imported_runs["tc"])
    model = tc.model_config()
    assert (model.architecture, model.encoder, model.num_blocks) == ("tcdepth", "drn_c_26", 3)
    assert model.sigma == sigmas and len(set(sigmas)) == 3
    assert (model.temporal_norm, model.attention_camera, model.upsample_mode) == ("per_view", "kitti", "bilinear")
    extras = manifest["tc_depth"]["files"]["encoder.pth"]["extras"]
    assert tc.network_size() == (extras["height"], extras["width"])
    assert tc.pose_weights.is_file()
    md2 = Run(imported_runs["md2"]).model_config()
    assert (md2.architecture, md2.encoder, md2.upsample_mode) == ("monodepth2", "resnet18", "nearest")


def test_format_is_detected_from_the_file_names(official_folders):
    assert import_official(official_folders["tc"]).format == "tcdepth-official"
    assert import_official(official_folders["md2"]).format == "monodepth2"


def test_a_folder_without_pose_files_gives_a_depth_only_run(official_folders, tmp_path, capsys):
    source = variant(official_folders["md2"], tmp_path / "src", skip=("pose.pth", "pose_encoder.pth"))
    assert main(["import-weights", str(source), str(tmp_path / "run"), "--format", "monodepth2"]) == 0
    assert "without pose network" in capsys.readouterr().out
    loaded = load_trained_model(tmp_path / "run")
    assert loaded.pose_net is None and not Run(tmp_path / "run").pose_weights.exists()


def test_one_pose_file_alone_is_refused(official_folders, tmp_path, capsys):
    source = variant(official_folders["md2"], tmp_path / "src", skip=("pose.pth",))
    assert "missing ['pose.pth']" in import_fails(capsys, source, tmp_path / "run")


class RunsCodeOnLoad:
    """Unpickling this object would create the file ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def test_a_checkpoint_that_would_run_code_is_refused_unexecuted(official_folders, tmp_path, capsys):
    source = variant(official_folders["md2"], tmp_path / "src")
    marker = tmp_path / "code_ran"
    rewrite(source, "depth.pth", lambda state: {**state, "payload": RunsCodeOnLoad(marker)})
    error = import_fails(capsys, source, tmp_path / "run")
    assert "depth.pth: refused" in error and "could run code" in error
    assert not marker.exists()


def test_missing_unexpected_and_misshaped_keys_are_named(official_folders, tmp_path, capsys):
    source = variant(official_folders["tc"], tmp_path / "src")

    def damage(state):
        del state["decoder.0.conv.conv.weight"]
        state["decoder.12.conv.weight"] = torch.zeros(1)
        state["decoder.11.conv.bias"] = torch.zeros(2)
        return state

    rewrite(source, "depth.pth", damage)
    rewrite(source, "spa_temp.pth", lambda state: {**state, "module.1.temp_attn.f_query.0.bias": torch.ones(64)})
    error = import_fails(capsys, source, tmp_path / "run")
    assert "depth.pth missing keys (1): decoder.0.conv.conv.weight" in error
    assert "depth.pth unexpected keys (1): decoder.12.conv.weight" in error
    assert "depth.pth mis-shaped keys (1): decoder.11.conv.bias (2,), expected (1,)" in error
    assert "module.1.temp_attn.f_query.0.bias differs from module.1.temp_attn.f_key.0.bias" in error


def test_the_wrong_format_is_refused_by_key(official_folders, tmp_path, capsys):
    error = import_fails(capsys, official_folders["tc"], tmp_path / "run", "--format", "monodepth2")
    assert "encoder.pth missing keys" in error and "encoder.layer1.1.conv1.weight" in error
    assert "encoder.pth unexpected keys" in error and "encoder.layer5.0.conv1.weight" in error


def test_an_occupied_run_directory_is_not_touched(official_folders, tmp_path, capsys):
    target = tmp_path / "run"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    assert main(["import-weights", str(official_folders["md2"]), str(target)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
