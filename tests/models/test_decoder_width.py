"""Decoder width multipliers (model.decoder_width, model.reference_width): widths, parameter counts in closed form,
shapes, gradients."""

import pytest
import torch

from tcdepth.config import ConfigError
from tcdepth.geometry import make_intrinsics
from tcdepth.models import ModelConfig, build_model, load_weights, save_weights
from tcdepth.models.decoders import DepthDecoder, ReferenceDecoder
from tcdepth.models.layers import scaled_channels
from tcdepth.models.summary import saved_for_backward


def conv3x3_params(c_in, c_out):
    return 9 * c_in * c_out + c_out


def test_scaled_channels_rounds_keeps_at_least_four_and_rejects_bad_widths():
    assert [scaled_channels(c, 1.0) for c in (256, 128, 16)] == [256, 128, 16]
    assert [scaled_channels(c, 0.25) for c in (256, 128, 64, 32, 16)] == [64, 32, 16, 8, 4]
    assert scaled_channels(16, 0.1) == 4
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="width"):
            scaled_channels(64, bad)


@pytest.mark.parametrize("value", [0.0, -0.25, 1.01])
def test_config_rejects_decoder_width_outside_unit_interval(value):
    with pytest.raises(ConfigError, match=r"model.decoder_width: expected 0 < w <= 1"):
        ModelConfig(decoder_width=value)
    with pytest.raises(ConfigError, match=r"model.reference_width: expected 0 < w <= 1"):
        ModelConfig(reference_width=value)


def test_reference_decoder_parameters_match_the_closed_form():
    # ConvBlock(C -> h) + Conv3x3(h -> bins), h = 256 * width
    for width, bins, hidden in ((1.0, 256, 256), (0.25, 64, 64), (0.125, 32, 32)):
        decoder = ReferenceDecoder(40, bins, width=width)
        expected = conv3x3_params(40, hidden) + conv3x3_params(hidden, bins)
        assert sum(p.numel() for p in decoder.parameters()) == expected


def test_depth_decoder_stage_widths_scale_with_decoder_width():
    model = build_model(ModelConfig(encoder="drn_tiny", tiny_width=0.125, decoder_width=0.25, num_blocks=1))
    assert [block.conv.conv.out_channels for block in model.decoder.post] == [32, 16, 8, 4]
    assert [head.conv.in_channels for head in model.decoder.disp_heads] == [32, 16, 8, 4]
    assert model.reference_decoder.block.conv.conv.out_channels == 64
    default = build_model(ModelConfig(encoder="drn_tiny", tiny_width=0.125, num_blocks=1))
    assert [block.conv.conv.out_channels for block in default.decoder.post] == [128, 64, 32, 16]
    assert default.reference_decoder.block.conv.conv.out_channels == 256


def test_reference_width_narrows_the_coarse_head_alone():
    model = build_model(ModelConfig(encoder="drn_tiny", tiny_width=0.125, reference_width=0.25,
                                    num_reference_bins=64, num_blocks=1))
    assert [block.conv.conv.out_channels for block in model.decoder.post] == [128, 64, 32, 16]
    assert model.reference_decoder.block.conv.conv.out_channels == 64
    assert model.reference_decoder.logits.conv.weight.shape == (64, 64, 3, 3)
    widened = build_model(ModelConfig(encoder="drn_tiny", tiny_width=0.125, decoder_width=0.25, reference_width=1.0,
                                      num_blocks=1))
    assert [block.conv.conv.out_channels for block in widened.decoder.post] == [32, 16, 8, 4]
    assert widened.reference_decoder.block.conv.conv.out_channels == 256


def test_narrow_decoders_give_full_shapes_ranges_and_gradients():
    torch.manual_seed(0)
    cfg = ModelConfig(encoder="drn_tiny", tiny_width=0.125, decoder_width=0.125, num_reference_bins=16,
                      num_blocks=1)
    model = build_model(cfg).train()
    frames = torch.rand(2, 3, 3, 64, 96)
    K = make_intrinsics(0.58 * 96, 1.92 * 64, 48.0, 32.0).expand(2, 3, 3).clone()
    out = model(frames, K)
    assert [tuple(d.shape) for d in out["disp"]] == [(2, 3, 1, 64 >> s, 96 >> s) for s in range(4)]
    assert all(((d > 0) & (d < 1)).all() for d in out["disp"])
    assert out["coarse_disp"].shape == (2, 3, 1, 8, 12)
    assert ((out["coarse_disp"] >= 0.01) & (out["coarse_disp"] <= 10.0)).all()
    (sum(d.mean() for d in out["disp"]) + out["coarse_disp"].mean()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_decoder_width_survives_a_weights_file(tmp_path):
    cfg = ModelConfig(encoder="drn_tiny", tiny_width=0.125, decoder_width=0.25, num_reference_bins=64,
                      num_blocks=1)
    path = tmp_path / "depth.safetensors"
    save_weights(build_model(cfg), cfg, path)
    loaded, loaded_cfg = load_weights(path)
    assert loaded_cfg.decoder_width == 0.25 and loaded_cfg.num_reference_bins == 64
    assert loaded.reference_decoder.logits.conv.weight.shape == (64, 64, 3, 3)
    narrow_head = ModelConfig(encoder="drn_tiny", tiny_width=0.125, reference_width=0.25, num_reference_bins=64,
                              num_blocks=1)
    save_weights(build_model(narrow_head), narrow_head, path)
    loaded, loaded_cfg = load_weights(path)
    assert loaded_cfg.decoder_width == 1.0 and loaded_cfg.reference_width == 0.25
    assert loaded.reference_decoder.logits.conv.weight.shape == (64, 64, 3, 3)


@pytest.mark.parametrize("recompute_stages", [1, 4])
def test_recomputed_stages_give_the_same_gradients_with_less_kept(recompute_stages):
    torch.manual_seed(0)
    decoder = DepthDecoder.for_tcdepth((8, 8, 16), 16, width=0.25, recompute_stages=recompute_stages)
    features = [torch.rand(2, 8, 32, 48), torch.rand(2, 8, 16, 24), torch.rand(2, 16, 8, 12),
                torch.rand(2, 16, 8, 12)]
    grads, kept = [], []
    for training in (True, False):  # no batch norm or dropout: eval mode differs only by not recomputing
        decoder.train(training)
        decoder.zero_grad()
        disps, saved = saved_for_backward(lambda: decoder(features))
        sum((d * torch.linspace(0, 1, d.shape[-1])).sum() for d in disps).backward()
        grads.append({n: p.grad.clone() for n, p in decoder.named_parameters()})
        kept.append(saved)
    for name, grad in grads[0].items():
        torch.testing.assert_close(grad, grads[1][name], rtol=1e-5, atol=1e-6)
    assert kept[0] < kept[1]
    if recompute_stages == 4:  # every stage recomputed: what stays is what enters each stage, not its maps
        assert kept[0] < 0.1 * kept[1]
