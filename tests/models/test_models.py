"""Composed networks: output shapes, streaming decode, gradient flow, input checks."""

import dataclasses

import pytest
import torch

from tcdepth.geometry import KITTI_NORMALIZED_K, make_intrinsics, normalized_to_pixel
from tcdepth.models import ModelConfig, build_model, build_pose_net


def kitti_K(batch, height, width):
    K = make_intrinsics(0.58 * width, 1.92 * height, 0.5 * width, 0.5 * height)
    return K.expand(batch, 3, 3).clone()


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_model(ModelConfig(encoder="drn_tiny", tiny_width=0.125)).eval()


@pytest.mark.parametrize("height,width", [(96, 320), (192, 640), (320, 1024)])
def test_tcdepth_output_shapes(tiny, height, width):
    with torch.no_grad():
        out = tiny(torch.rand(1, 3, 3, height, width), kitti_K(1, height, width), return_attention=True)
    assert [tuple(d.shape) for d in out["disp"]] == [(1, 3, 1, height >> s, width >> s) for s in range(4)]
    assert out["coarse_disp"].shape == (1, 3, 1, height // 8, width // 8)
    n = height // 8 * width // 8
    assert out["attention"]["spatial"].shape == (1, n, n)
    assert out["attention"]["temporal"].shape == (1, 2, n, n)
    assert all(((d > 0) & (d < 1)).all() for d in out["disp"])
    assert ((out["coarse_disp"] >= 0.01) & (out["coarse_disp"] <= 10.0)).all()


def test_non_kitti_intrinsics_and_streaming_decode_of_centre_view(tiny):
    frames = torch.rand(2, 3, 3, 64, 96)
    K = make_intrinsics(70.0, 75.0, 40.0, 30.0).expand(2, 3, 3).clone()  # not KITTI, not centred
    with torch.no_grad():
        full = tiny(frames, K)
        features = [f.unflatten(0, (2, 3)) for f in tiny.encode(frames.flatten(0, 1))]
        centre = tiny.decode_from_features(features, K, (64, 96), decode_views=(0,))
    for d_full, d_centre in zip(full["disp"], centre["disp"], strict=True):
        assert d_centre.shape[1] == 1
        torch.testing.assert_close(d_centre[:, 0], d_full[:, 0])


@pytest.mark.parametrize("use_spatial,use_temporal", [(True, True), (False, True), (True, False)])
def test_gradient_reaches_every_trainable_parameter(use_spatial, use_temporal):
    torch.manual_seed(0)
    model = build_model(ModelConfig(encoder="drn_tiny", tiny_width=0.125, use_spatial=use_spatial,
                                    use_temporal=use_temporal)).train()
    out = model(torch.rand(2, 3, 3, 64, 96), kitti_K(2, 64, 96))
    sum(d.mean() for d in out["disp"]).backward()
    for name, p in model.named_parameters():
        if name.startswith("reference_decoder."):
            assert p.grad is None, name
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    model.zero_grad(set_to_none=True)
    out = model(torch.rand(2, 3, 3, 64, 96), kitti_K(2, 64, 96))
    out["coarse_disp"].mean().backward()
    for name, p in model.named_parameters():
        if name.startswith("reference_decoder."):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            assert p.grad is None or p.grad.abs().sum() == 0, name


@pytest.mark.parametrize("encoder", ["drn_d_54", "resnet18", "efficientnet_lite0"])
def test_other_encoders_plug_into_tcdepth(encoder):
    model = build_model(ModelConfig(encoder=encoder, num_blocks=1)).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 3, 64, 64), kitti_K(1, 64, 64))
    assert [tuple(d.shape) for d in out["disp"]] == [(1, 3, 1, 64 >> s, 64 >> s) for s in range(4)]


def test_monodepth2_and_pose_shapes():
    cfg = ModelConfig(architecture="monodepth2", encoder="resnet18")
    assert cfg.upsample_mode == "nearest"
    model = build_model(cfg).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 96))
        axisangle, translation = build_pose_net(cfg).eval()(torch.rand(2, 3, 64, 96), torch.rand(2, 3, 64, 96))
    assert [tuple(d.shape) for d in out["disp"]] == [(2, 1, 64 >> s, 96 >> s) for s in range(4)]
    assert axisangle.shape == (2, 3) and translation.shape == (2, 3)


def test_bad_inputs_raise_clear_errors(tiny):
    K = kitti_K(1, 64, 96)
    with pytest.raises(ValueError, match="triplet"):
        tiny(torch.rand(1, 2, 3, 64, 96), K)
    with pytest.raises(ValueError, match="multiples of 32"):
        tiny(torch.rand(1, 3, 3, 64, 100), K)
    with pytest.raises(ValueError, match=r"K must be \[B,3,3\]"):
        tiny(torch.rand(1, 3, 3, 64, 96), torch.eye(3))
    with pytest.raises(ValueError, match=r"K must be \[B,3,3\]"):
        tiny(torch.rand(1, 3, 3, 64, 96), torch.eye(4).expand(1, 4, 4))
    features = tiny.encode(torch.rand(3, 3, 64, 96))
    with pytest.raises(ValueError, match="encoder features"):
        tiny.frame_context(features[1:], K.expand(3, 3, 3), (64, 96))
    context = tiny.frame_context(features, K.expand(3, 3, 3), (64, 96))
    with pytest.raises(ValueError, match=r"frame contexts of 3 views stacked \[B,3,...\]"):
        tiny.decode_from_context(context)  # not stacked into a triplet
    pose = build_pose_net(ModelConfig())
    with pytest.raises(ValueError, match="PoseNet"):
        pose(torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 64))


def test_attention_camera_kitti_ignores_the_input_intrinsics():
    """``attention_camera: kitti`` (the reference) back-projects the coarse depth with KITTI's normalised K at the
    input size whatever K is given; ``input`` uses the given K, so it agrees with ``kitti`` exactly when given that
    K. Compared on the attention's points (the kernel state of ``frame_context``)."""
    torch.manual_seed(0)
    cfg = ModelConfig(encoder="drn_tiny", tiny_width=0.125, num_blocks=1)
    own = build_model(cfg).eval()
    kitti = build_model(dataclasses.replace(cfg, attention_camera="kitti")).eval()
    kitti.load_state_dict(own.state_dict())
    images = torch.rand(2, 3, 64, 128)
    other_K = torch.tensor([[40.0, 0.0, 70.0], [0.0, 45.0, 20.0], [0.0, 0.0, 1.0]]).expand(2, 3, 3)
    kitti_K = normalized_to_pixel(KITTI_NORMALIZED_K, 64, 128).expand(2, 3, 3)

    def points(net, K):
        with torch.no_grad():
            return net.frame_context(net.encode(images), K, (64, 128))[5]

    reference = points(kitti, kitti_K)
    torch.testing.assert_close(points(kitti, other_K), reference)
    torch.testing.assert_close(points(own, kitti_K), reference)
    assert (points(own, other_K) - reference).abs().max() > 0.1 * reference.abs().max()
