"""``LossConfig.multiscale = "pyramid"``: the loss of scale s is the single-scale loss of the sample downsampled 2^s."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from tcdepth.geometry import disp_to_depth
from tcdepth.losses import LossConfig, monodepth2_loss, tcdepth_loss

from .plane_scene import BASELINE, translation_pose
from .test_objective import _perturbed_scene

NO_REFERENCE = LossConfig(reference_weight=0.0)


def _downsampled_sample(inputs, outputs, teacher, s):
    """The scene as a single-scale sample at ``H/2^s``: images averaged over 2^s x 2^s blocks, focal length and
    principal point divided by 2^s, scale s's disparity as scale 0, the teacher's depth block-averaged."""
    factor = 2**s
    frames = inputs["color_0"]
    small = {"color_0": F.avg_pool2d(frames.flatten(0, 1), factor).unflatten(0, frames.shape[:2])}
    K = inputs["K_0"].clone()
    K[:, :2] /= factor
    small.update({"K_0": K, "inv_K_0": torch.linalg.inv(K)})
    depth = F.avg_pool2d(disp_to_depth(teacher, 0.1, 100.0)[1], factor)
    small_teacher = ((1 / depth - 0.01) / (10.0 - 0.01)).clamp(0, 1)
    return small, {"disp": [outputs["disp"][s]]}, small_teacher


def _pyramid_inputs(inputs, s):
    """The scene's inputs with its scale-s images replaced by the test's own block averages."""
    frames = inputs["color_0"]
    pooled = F.avg_pool2d(frames.flatten(0, 1), 2**s).unflatten(0, frames.shape[:2])
    return {**inputs, f"color_{s}": pooled}


@pytest.mark.parametrize("s", [1, 2, 3])
def test_tcdepth_pyramid_scale_is_the_loss_of_the_downsampled_sample(s):
    inputs, outputs, poses, teacher = _perturbed_scene()
    torch.manual_seed(0)
    pyramid = tcdepth_loss(_pyramid_inputs(inputs, s), outputs, poses, teacher, 0,
                           dataclasses.replace(NO_REFERENCE, scales=(s,), multiscale="pyramid"))
    small_inputs, small_outputs, small_teacher = _downsampled_sample(inputs, outputs, teacher, s)
    small_outputs["coarse_disp"] = outputs["coarse_disp"]
    torch.manual_seed(0)
    naive = tcdepth_loss(small_inputs, small_outputs, poses, small_teacher, 0,
                         dataclasses.replace(NO_REFERENCE, scales=(0,)))
    for term in ("photometric", "geometric", "consistency"):
        assert naive.terms[f"{term}/0"] > 0
        assert torch.allclose(pyramid.terms[f"{term}/{s}"], naive.terms[f"{term}/0"], rtol=1e-4), term
    # smoothness of scale s carries the weight / 2^s of the multiscale objective
    assert torch.allclose(pyramid.terms[f"smoothness/{s}"] * 2**s, naive.terms["smoothness/0"], rtol=1e-5)


@pytest.mark.parametrize("s", [1, 3])
def test_monodepth2_pyramid_scale_is_the_loss_of_the_downsampled_sample(s):
    inputs, outputs, poses, teacher = _perturbed_scene()
    single = {"disp": [d[:, 0] for d in outputs["disp"]]}
    torch.manual_seed(0)
    pyramid = monodepth2_loss(_pyramid_inputs(inputs, s), single, poses, LossConfig(scales=(s,), multiscale="pyramid"))
    small_inputs, small_outputs, _ = _downsampled_sample(inputs, outputs, teacher, s)
    torch.manual_seed(0)
    naive = monodepth2_loss(small_inputs, {"disp": [small_outputs["disp"][0][:, 0]]}, poses, LossConfig(scales=(0,)))
    assert naive.terms["photometric/0"] > 0
    assert torch.allclose(pyramid.terms[f"photometric/{s}"], naive.terms["photometric/0"], rtol=1e-5)


def test_pyramid_changes_only_the_coarse_scales_and_needs_their_intrinsics():
    inputs, outputs, poses, teacher = _perturbed_scene()
    torch.manual_seed(0)
    upsample = tcdepth_loss(inputs, outputs, poses, teacher, 0, LossConfig())
    torch.manual_seed(0)
    pyramid = tcdepth_loss(inputs, outputs, poses, teacher, 0, LossConfig(multiscale="pyramid"), return_masks=True)
    for term in ("photometric", "geometric", "consistency"):
        assert torch.equal(pyramid.terms[f"{term}/0"], upsample.terms[f"{term}/0"]), term
        assert not torch.allclose(pyramid.terms[f"{term}/2"], upsample.terms[f"{term}/2"]), term
    assert torch.equal(pyramid.terms["smoothness/2"], upsample.terms["smoothness/2"])  # always at the disparity's size
    assert pyramid.masks["cycle_mask/2"].shape == (2, 2, 24 // 4, 48 // 4)
    assert pyramid.masks["motion_mask/3"].shape == (2, 1, 24 // 8, 48 // 8)
    without_K2 = {k: v for k, v in inputs.items() if k != "K_2"}
    with pytest.raises(ValueError, match=r"K_2"):
        tcdepth_loss(without_K2, outputs, poses, teacher, 0, LossConfig(multiscale="pyramid"))
    assert tcdepth_loss(without_K2, outputs, poses, teacher, 0, LossConfig()).total > 0  # upsample reads only K_0


def test_pyramid_loss_prefers_the_true_pose(scene):
    # The plane's image moves by 2 px, i.e. by whole pixels at scales 0 and 1 (near-zero loss there) and by
    # fractions of a pixel of a blurred, aliased texture at scale 2 (scale 3 is 3 x 6 pixels of aliasing).
    inputs, outputs, poses, _ = scene
    single = {"disp": [d[:, 0] for d in outputs["disp"]]}
    wrong = {f: translation_pose(2, 2 * f * BASELINE) for f in (-1, 1)}
    cfg = LossConfig(multiscale="pyramid", smoothness_weight=0.0)
    good = monodepth2_loss(inputs, single, poses, cfg)
    bad = monodepth2_loss(inputs, single, wrong, cfg)
    for s in range(3):
        assert bad.terms[f"photometric/{s}"] > good.terms[f"photometric/{s}"] + 0.05, s
    assert good.terms["photometric/0"] < 1e-4 and good.terms["photometric/1"] < 1e-4
