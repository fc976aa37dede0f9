"""Weights files, checkpoint initialisation, config validation, `tcdepth info` parameter counts."""

import json

import pytest
import torch
from safetensors.torch import save_file

from tcdepth.cli.main import main
from tcdepth.config import ConfigError
from tcdepth.models import ModelConfig, build_model, build_pose_net, drn_c_26, load_weights, save_weights
from tcdepth.models.efficientnet import EfficientNetLite0Encoder, shipped_lite0_weights
from tcdepth.models.pretrained import load_pretrained
from tcdepth.models.resnet import ResNetEncoder


def test_save_load_round_trip_reproduces_outputs(tmp_path):
    cfg = ModelConfig(encoder="drn_tiny", tiny_width=0.125, num_blocks=1)
    model = build_model(cfg).eval()
    path = tmp_path / "depth.safetensors"
    save_weights(model, cfg, path)
    loaded, loaded_cfg = load_weights(path)
    assert loaded_cfg == cfg
    frames = torch.rand(1, 3, 3, 64, 64)
    K = torch.tensor([[40.0, 0, 32], [0, 40, 32], [0, 0, 1]]).expand(1, 3, 3).clone()
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(frames, K)["disp"][0], model(frames, K)["disp"][0])
    pose_path = tmp_path / "pose.safetensors"
    save_weights(build_pose_net(cfg), cfg, pose_path)
    assert type(load_weights(pose_path)[0]).__name__ == "PoseNet"


def test_load_names_keys_that_do_not_fit(tmp_path):
    cfg = ModelConfig(encoder="drn_tiny", tiny_width=0.125, num_blocks=1)
    path = tmp_path / "depth.safetensors"
    save_weights(build_model(cfg), cfg, path)
    from safetensors import safe_open
    from safetensors.torch import load_file

    state = load_file(str(path))
    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata()
    state.pop("decoder.disp_heads.0.conv.bias")
    state["extra.weight"] = torch.zeros(1)
    state["st_module.spatial.0.gamma"] = torch.zeros(2)
    save_file(state, str(path), metadata=metadata)
    with pytest.raises(ValueError) as err:
        load_weights(path)
    for key in ("decoder.disp_heads.0.conv.bias", "extra.weight", "st_module.spatial.0.gamma"):
        assert key in str(err.value)
    save_file({"w": torch.zeros(1)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(ValueError, match="not a tcdepth weights file"):
        load_weights(tmp_path / "foreign.safetensors")


def test_public_drn_key_names_load_and_classifier_is_ignored(tmp_path):
    # Key names of fyu/drn drn_c_26 (conv1/bn1/layer1..layer8, fc); an unknown key is reported.
    source = drn_c_26(0.125)
    state = {k: torch.full_like(v, 0.5) for k, v in source.state_dict().items()}
    state["fc.weight"] = torch.zeros(1000, 64, 1, 1)
    state["layer9.weight"] = torch.zeros(3)
    assert "conv1.weight" in state and "layer8.0.conv2.weight" in state and "layer2.0.downsample.0.weight" in state
    path = tmp_path / "drn.pth"
    torch.save({"state_dict": state}, path)
    target = drn_c_26(0.125)
    report = load_pretrained(target, path)
    assert report.unexpected == ["layer9.weight"] and not report.missing and not report.mismatched
    assert torch.all(target.layer8[0].conv2.weight == 0.5)


def test_torchvision_resnet_conv1_is_repeated_for_two_frames(tmp_path):
    state = ResNetEncoder(18).state_dict()
    state["conv1.weight"] = torch.randn(64, 3, 7, 7)
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    pose = build_pose_net(ModelConfig(pose_pretrained=str(path)))
    w = pose.encoder.conv1.weight.detach()
    torch.testing.assert_close(w, torch.cat([state["conv1.weight"]] * 2, dim=1) / 2)


def test_shipped_efficientnet_weights_load_completely():
    report = load_pretrained(EfficientNetLite0Encoder(), shipped_lite0_weights())
    assert not report.missing and not report.unexpected and not report.mismatched


def test_shipped_efficientnet_pose_encoder_sees_a_repeated_frame_as_the_imagenet_network_does():
    # The stem is widened to two frames (weights repeated and halved): two copies of one frame give exactly the
    # single-frame ImageNet network's stem response; every other tensor loads unchanged.
    pose = build_pose_net(ModelConfig(pose_encoder="efficientnet_lite0", pose_pretrained="shipped")).eval()
    single = EfficientNetLite0Encoder(output_stride=32).eval()
    report = load_pretrained(single, shipped_lite0_weights())
    assert not report.missing and not report.mismatched
    frame = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        features = pose.encoder(torch.cat([frame, frame], dim=1))
        reference = single(frame)
    torch.testing.assert_close(features[-1], reference[-1], atol=1e-4, rtol=1e-4)
    assert features[-1].shape[-2:] == (2, 3)  # output stride 32
    axisangle, translation = pose(frame, frame)
    assert axisangle.shape == (1, 3) and translation.shape == (1, 3)


@pytest.mark.parametrize("field,value,match", [
    ("encoder", "vgg", "model.encoder"), ("tiny_width", 0.0, "model.tiny_width"),
    ("sigma", -1.0, "model.sigma"), ("pretrained", "shipped", "model.pretrained"),
    ("min_depth", 200.0, "model.min_depth"), ("pose_encoder", "vgg", "model.pose_encoder"),
    ("pose_pretrained", "shipped", "model.pose_pretrained"),
    ("decoder_recompute_stages", -1, "model.decoder_recompute_stages"),
])
def test_config_validation_names_the_field(field, value, match):
    with pytest.raises(ConfigError, match=match):
        ModelConfig(**{field: value})
    with pytest.raises(ConfigError, match="model.encoder"):
        ModelConfig(architecture="monodepth2", encoder="drn_c_26")


def test_info_reports_the_paper_parameter_counts(capsys):
    assert main(["info", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    params = {c["name"]: round(c["params"] / 1e6, 2) for c in report["components"]}
    assert params == {"encoder": 20.61, "reference_decoder": 1.77, "st_module": 5.82, "decoder": 1.08,
                      "pose_encoder": 11.19, "pose_decoder": 1.31}
    gflops = {c["name"]: c["gflops"] for c in report["components"]}
    assert gflops["encoder"] == pytest.approx(249.4, abs=0.1)  # spec 9, measured on the reference


def test_info_reads_the_model_section_of_a_yaml(tmp_path, capsys):
    path = tmp_path / "cfg.yaml"
    path.write_text("model:\n  architecture: monodepth2\n  encoder: resnet18\ntraining:\n  epochs: 3\n")
    assert main(["info", str(path), "--height", "96", "--width", "320", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"]["architecture"] == "monodepth2"
    assert [c["name"] for c in report["components"]][:2] == ["encoder", "decoder"]
    path.write_text("model:\n  encoder: vgg\n")
    assert main(["info", str(path)]) == 1
    assert "model.encoder" in capsys.readouterr().err


def test_info_counts_the_spatial_temporal_module_as_the_closed_form(capsys):
    """FLOPs (2 x MAC) of the attention at 192x640 (N = 24*80 positions, C = 512, C' = 64, three views):
    a spatial block is the value conv, the N x N aggregation, two projections and the fuse conv of each view; a
    temporal block projects each view to query/key and value once, attends six (view, other view) pairs
    (Q K^T and A V) and maps each context back, then fuses each view."""
    assert main(["info", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    n, c, r = 24 * 80, 512, 512 // 8
    spatial = 3 * (2 * n * c * c + 2 * n * n * c + 2 * (2 * n * c * c) + 2 * n * 2 * c * c)
    temporal = 3 * (2 * n * c * r) * 2 + 6 * (2 * n * n * r) * 2 + 6 * (2 * n * r * c) + 3 * (2 * n * 2 * c * c)
    gflops = {c["name"]: c["gflops"] for c in report["components"]}
    assert gflops["st_module"] == pytest.approx(3 * (spatial + temporal) / 1e9, abs=1e-3)


def test_shipped_weights_initialise_the_lite0_monodepth2_completely():
    # Monodepth2 on EfficientNet-Lite0: five features at 1/2 .. 1/32, every ImageNet tensor loaded.
    model = build_model(ModelConfig(architecture="monodepth2", encoder="efficientnet_lite0", pretrained="shipped"))
    reference = EfficientNetLite0Encoder(output_stride=32)
    report = load_pretrained(reference, shipped_lite0_weights())
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(model.encoder.state_dict()[key], value, msg=key)
    assert not report.missing
    image = torch.rand(1, 3, 64, 96)
    features = model.eval().encoder(image)
    assert [f.shape[-1] for f in features] == [48, 24, 12, 6, 3]
    assert [f.shape[1] for f in features] == list(model.encoder.num_ch_enc) == [16, 24, 40, 112, 320]
    assert [d.shape[-2:] for d in model(image)["disp"]] == [(64, 96), (32, 48), (16, 24), (8, 12)]


def test_tiny_lite0_encoder_is_the_first_five_stages_of_lite0():
    # The truncated TC-Depth encoder's context is block 10 of the full (output stride 8) ImageNet Lite0.
    tiny = build_model(ModelConfig(encoder="efficientnet_lite0_tiny", pretrained="shipped")).encoder.eval()
    full = EfficientNetLite0Encoder(skip_blocks=(0, 2, 4, 10)).eval()
    report = load_pretrained(full, shipped_lite0_weights())
    assert not report.missing and len(tiny._blocks) == 11 and tiny.num_ch_ctx == 112
    image = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        ours, reference = tiny(image), full(image)
    for a, b in zip(ours, reference[:4], strict=True):
        torch.testing.assert_close(a, b)
