import dataclasses

import pytest
import torch

from tcdepth.config import ConfigError, from_dict
from tcdepth.geometry import make_intrinsics, pose_vec_to_mat
from tcdepth.losses import (
    LossConfig,
    consistency_term,
    cycle_error,
    geometric_term,
    monodepth2_loss,
    motion_mask,
    photometric_term,
    reference_term,
    reprojection_terms,
    tcdepth_loss,
)
from tcdepth.models.summary import saved_for_backward

from .plane_scene import BASELINE, make_scene, translation_pose


def _perturbed_scene(seed=0):
    """The consistent scene with noisy disparities and teacher, so that every term is non-zero."""
    gen = torch.Generator().manual_seed(seed)
    inputs, outputs, poses, teacher = make_scene()
    outputs["disp"] = [(d + 0.05 * torch.rand(d.shape, generator=gen)).clamp(0, 1) for d in outputs["disp"]]
    outputs["coarse_disp"] = outputs["coarse_disp"] + 0.1 * torch.rand(outputs["coarse_disp"].shape, generator=gen)
    teacher = (teacher + 0.1 * torch.rand(teacher.shape, generator=gen)).clamp(0, 1)
    return inputs, outputs, poses, teacher


def _loss(scene, config=None, epoch=0, seed=0, return_masks=False):
    torch.manual_seed(seed)
    inputs, outputs, poses, teacher = scene
    return tcdepth_loss(inputs, outputs, poses, teacher, epoch, config or LossConfig(), return_masks)


# ----- pieces against hand computations ---------------------------------------------------------------------


def test_photometric_normalisations():
    r = torch.tensor([0.2, 0.4, 0.6, 0.8]).reshape(1, 1, 2, 2)
    r_id = torch.tensor([0.3, 0.1, 0.9, 0.5]).reshape(1, 1, 2, 2)
    mask = (r < r_id).float()  # pixels 0 and 2
    assert photometric_term(r, r_id, mask, "masked_mean").item() == pytest.approx((0.2 + 0.6) / 2, rel=1e-6)
    assert photometric_term(r, r_id, mask, "min_mean").item() == pytest.approx((0.2 + 0.1 + 0.6 + 0.5) / 4)
    gate = torch.tensor([1.0, 1.0, 0.0, 1.0]).reshape(1, 1, 2, 2)
    assert photometric_term(r, r_id, mask, "masked_mean", gate).item() == pytest.approx(0.2, rel=1e-6)
    assert photometric_term(r, r_id, mask, "min_mean", gate).item() == pytest.approx((0.2 + 0.1 + 0.5) / 4)


def test_relative_motion_mask_is_the_ratio_test():
    student = torch.tensor([1.0, 2.0, 1.0, 4.0, 1.0, 1.0]).reshape(1, 1, 2, 3)
    teacher = torch.tensor([1.5, 1.0, 0.5, 2.6, 1.7, 0.6]).reshape(1, 1, 2, 3)  # ratios 1.5, 2, 2, 1.54, 1.7, 1.67
    expected = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    assert motion_mask(student, teacher, ratio=1.6, form="relative").flatten().tolist() == expected
    assert motion_mask(student, teacher, ratio=1.6).flatten().tolist() == expected


def test_motion_mask_and_consistency_term():
    student = torch.tensor([1.0, 2.0, 1.0, 4.0]).reshape(1, 1, 2, 2)
    teacher = torch.tensor([1.5, 1.0, 0.5, 2.6]).reshape(1, 1, 2, 2)
    static = motion_mask(student, teacher, ratio=1.6)  # ratios 1.5, 2, 2, 1.54
    assert static.flatten().tolist() == [1.0, 0.0, 0.0, 1.0]
    expected = (abs(1 / 2.0 - 1 / 1.0) + abs(1 / 1.0 - 1 / 0.5)) / 4
    assert consistency_term(student, teacher, static).item() == pytest.approx(expected)


def test_geometric_term_averages_frames_and_means_over_all_pixels():
    g = torch.tensor([[0.2, 0.4], [0.6, 0.0]]).reshape(2, 1, 1, 1, 2)  # [F=2,B=1,1,1,W=2]
    mask = torch.tensor([1.0, 1.0]).reshape(1, 1, 1, 2)
    cycles = torch.tensor([[1.0, 0.0], [1.0, 1.0]]).reshape(2, 1, 1, 1, 2)
    assert geometric_term(g, mask).item() == pytest.approx(((0.2 + 0.6) / 2 + (0.4 + 0.0) / 2) / 2)
    assert geometric_term(g, mask, cycles).item() == pytest.approx(((0.2 + 0.6) / 2 + 0.0) / 2)


def test_reference_term_is_mean_absolute_offset():
    scaled = torch.full((2, 3, 1, 16, 32), 0.5)
    assert reference_term(torch.full((2, 3, 1, 2, 4), 0.5), scaled).item() == pytest.approx(0.0, abs=1e-7)
    assert reference_term(torch.full((2, 3, 1, 2, 4), 0.8), scaled).item() == pytest.approx(0.3)


# ----- the composed objective ---------------------------------------------------------------------------------


def test_consistent_scene_has_near_zero_loss_and_wrong_pose_does_not(scene):
    result = _loss(scene, return_masks=True)
    for s in range(4):
        assert result.terms[f"photometric/{s}"] < 1e-4
        assert result.terms[f"geometric/{s}"] < 1e-4
        assert result.terms[f"smoothness/{s}"] < 1e-6
        assert result.terms[f"consistency/{s}"] < 1e-6
    assert result.terms["reference"] < 1e-6
    assert result.total < 1e-4
    assert result.masks["automask/0"].mean() > 0.9  # the texture moves, so warping beats the unwarped frames

    inputs, outputs, poses, teacher = scene
    wrong = {f: translation_pose(2, 2 * f * BASELINE) for f in (-1, 1)}
    wrong_result = _loss((inputs, outputs, wrong, teacher))
    assert wrong_result.terms["photometric/0"] > 100 * max(result.terms["photometric/0"].item(), 1e-6)
    assert wrong_result.total > 0.01


def test_cycle_mask_drops_out_of_view_pixels_from_the_geometric_loss(scene):
    # At the image borders one source frame does not see the centre pixel: its interpolated depth is padding.
    unmasked = _loss(scene, LossConfig(use_cycle_mask=False))
    masked = _loss(scene, return_masks=True)
    assert unmasked.terms["geometric/0"] > 10 * masked.terms["geometric/0"] + 1e-3
    cycle = masked.masks["cycle_mask/0"]
    assert cycle.shape == (2, 2, 24, 48)
    assert cycle[:, 0, :, -2:].sum() == 0  # frame -1 (camera to the left) cannot see the rightmost 2 columns
    assert cycle[:, 1, :, :2].sum() == 0  # frame +1 cannot see the leftmost 2 columns


def test_monodepth2_objective(scene):
    inputs, outputs, poses, _ = scene
    md2_outputs = {"disp": [d[:, 0] for d in outputs["disp"]]}
    torch.manual_seed(0)
    good = monodepth2_loss(inputs, md2_outputs, poses)
    wrong = monodepth2_loss(inputs, md2_outputs, {f: translation_pose(2, 2 * f * BASELINE) for f in (-1, 1)})
    assert good.total < 1e-4
    assert wrong.total > 0.01
    assert set(good.terms) == {f"{n}/{s}" for n in ("photometric", "smoothness") for s in range(4)} | {"total"}


def test_gradients_reach_disparities_coarse_decoder_and_pose():
    inputs, outputs, _, teacher = _perturbed_scene()
    for d in outputs["disp"]:
        d.requires_grad_(True)
    outputs["coarse_disp"].requires_grad_(True)
    axisangle = torch.full((2, 3), 1e-3, requires_grad=True)
    translation = torch.tensor([[-BASELINE, 0.01, 0.0]] * 2, requires_grad=True)  # close to the true T_{0->1}
    poses = {1: pose_vec_to_mat(axisangle, translation), -1: pose_vec_to_mat(axisangle, translation, invert=True)}
    result = tcdepth_loss(inputs, outputs, poses, teacher, epoch=0)
    result.total.backward()
    for s, d in enumerate(outputs["disp"]):
        assert torch.isfinite(d.grad).all()
        views = range(3) if s == 0 else (0,)
        for v in views:
            assert d.grad[:, v].abs().sum() > 0, f"no gradient to disp scale {s} view {v}"
    assert outputs["coarse_disp"].grad.abs().sum() > 0
    assert axisangle.grad.abs().sum() > 0 and translation.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "change,removed,kept",
    [
        ({"use_geometric": False}, "geometric", ("photometric", "smoothness", "consistency")),
        ({"use_motion_loss": False}, "consistency", ("photometric", "smoothness")),
        ({"smoothness_weight": 0.0}, "smoothness", ("photometric", "geometric", "consistency")),
        ({"reference_weight": 0.0}, "reference", ("photometric", "geometric", "smoothness", "consistency")),
    ],
)
def test_each_ablation_switch_removes_its_term(change, removed, kept):
    scene = _perturbed_scene()
    base = _loss(scene)
    ablated = _loss(scene, dataclasses.replace(LossConfig(), **change))
    assert any(k.split("/")[0] == removed for k in base.terms)
    assert not any(k.split("/")[0] == removed for k in ablated.terms)
    for key, value in base.terms.items():
        if key.split("/")[0] in kept:
            assert torch.allclose(ablated.terms[key], value), key
    assert not torch.allclose(ablated.total, base.total)


def test_motion_and_cycle_switches_remove_their_masks():
    scene = _perturbed_scene()
    base = _loss(scene, return_masks=True)
    assert {"motion_mask/0", "cycle_mask/0", "automask/0"} <= set(base.masks)
    no_cycle = _loss(scene, LossConfig(use_cycle_mask=False), return_masks=True)
    assert "cycle_mask/0" not in no_cycle.masks
    assert not torch.allclose(no_cycle.terms["geometric/0"], base.terms["geometric/0"])
    after_window = _loss(scene, epoch=20, return_masks=True)
    assert "motion_mask/0" not in after_window.masks and "consistency/0" not in after_window.terms
    no_automask = _loss(scene, LossConfig(use_automask=False), return_masks=True)
    assert torch.all(no_automask.masks["automask/0"] == 1)


def test_motion_gating_modes():
    scene = _perturbed_scene()
    geometric = _loss(scene)
    photometric = _loss(scene, LossConfig(motion_gating="photometric"))
    # the reference gates only the geometric loss; ManyDepth style gates the photometric loss as well
    assert torch.allclose(photometric.terms["geometric/0"], geometric.terms["geometric/0"])
    assert not torch.allclose(photometric.terms["photometric/0"], geometric.terms["photometric/0"])
    no_motion = _loss(scene, LossConfig(use_motion_loss=False))
    assert torch.allclose(no_motion.terms["photometric/0"], geometric.terms["photometric/0"])
    assert not torch.allclose(no_motion.terms["geometric/0"], geometric.terms["geometric/0"])


def test_total_is_mean_over_scales_plus_reference():
    result = _loss(_perturbed_scene())
    per_scale = sum(v for k, v in result.terms.items() if "/" in k)
    assert torch.allclose(result.total, per_scale / 4 + result.terms["reference"])
    assert torch.allclose(result.terms["total"], result.total)


@pytest.mark.parametrize("scales_per_pass", [2, 4])
@pytest.mark.parametrize("objective", ["tcdepth", "monodepth2"])
def test_scales_computed_together_equal_each_scale_alone(objective, scales_per_pass):
    """Scales warped and compared in one batch: every term and mask must be what a one-scale objective gives for
    that scale (its own auto-mask, motion mask and cycle-mask quantile)."""
    inputs, outputs, poses, teacher = _perturbed_scene()
    if objective == "monodepth2":
        outputs = {"disp": [d[:, 0] for d in outputs["disp"]]}

    def run(scales):
        config = LossConfig(scales=scales, reference_weight=0.0, scales_per_pass=scales_per_pass)
        torch.manual_seed(0)
        if objective == "monodepth2":
            return monodepth2_loss(inputs, outputs, poses, config, return_masks=True)
        return tcdepth_loss(inputs, outputs, poses, teacher, 0, config, return_masks=True)

    together = run((0, 1, 2, 3))
    for s in range(4):
        alone = run((s,))
        for key, value in alone.terms.items():
            if key != "total":
                assert torch.allclose(together.terms[key], value, rtol=1e-5, atol=0), key
        for key, mask in alone.masks.items():
            if key.startswith("automask"):  # tie noise is drawn for all scales at once
                assert (together.masks[key] != mask).float().mean() < 1e-3, key
            else:
                assert torch.equal(together.masks[key], mask), key
    assert len(together.masks) == (12 if objective == "tcdepth" else 4)


@pytest.mark.parametrize("objective", ["tcdepth", "monodepth2"])
def test_recomputation_keeps_gradients_and_frees_the_objectives_activations(objective):
    inputs, outputs, poses, teacher = _perturbed_scene()
    disps = [d.clone().requires_grad_() for d in outputs["disp"]]
    if objective == "monodepth2":
        outputs = {"disp": [d[:, 0] for d in disps]}
    else:
        outputs = {**outputs, "disp": disps}

    def run(recompute):
        config = LossConfig(recompute=recompute, scales_per_pass=2)
        torch.manual_seed(0)
        if objective == "monodepth2":
            return monodepth2_loss(inputs, outputs, poses, config).total
        return tcdepth_loss(inputs, outputs, poses, teacher, 0, config).total

    kept, kept_bytes = saved_for_backward(lambda: run(False))
    recomputed, recomputed_bytes = saved_for_backward(lambda: run(True))
    assert torch.equal(kept, recomputed)
    for a, b in zip(torch.autograd.grad(kept, disps), torch.autograd.grad(recomputed, disps), strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-8)
    # only the inputs of each pass stay alive (the disparities, frames and intrinsics it reads)
    assert recomputed_bytes < 0.2 * kept_bytes


def test_reference_align_corners_bug_only_moves_the_geometric_term():
    scene = _perturbed_scene()
    fixed = _loss(scene)
    buggy = _loss(scene, LossConfig(reference_align_corners_bug=True))
    assert torch.allclose(buggy.terms["photometric/0"], fixed.terms["photometric/0"])
    assert not torch.allclose(buggy.terms["geometric/0"], fixed.terms["geometric/0"])


def test_bf16_autocast_computes_in_float32():
    inputs, outputs, poses, teacher = _perturbed_scene()
    outputs_bf16 = {"disp": [d.bfloat16() for d in outputs["disp"]], "coarse_disp": outputs["coarse_disp"].bfloat16()}
    outputs_rounded = {"disp": [d.float() for d in outputs_bf16["disp"]],
                       "coarse_disp": outputs_bf16["coarse_disp"].float()}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.manual_seed(0)
        mixed = tcdepth_loss(inputs, outputs_bf16, poses, teacher.bfloat16(), epoch=0)
    torch.manual_seed(0)
    full = tcdepth_loss(inputs, outputs_rounded, poses, teacher.bfloat16().float(), epoch=0)
    assert mixed.total.dtype == torch.float32
    assert torch.allclose(mixed.total, full.total, rtol=1e-5)


# ----- input and config errors --------------------------------------------------------------------------------


def test_missing_teacher_is_an_error_only_inside_the_motion_window(scene):
    inputs, outputs, poses, _ = scene
    with pytest.raises(ValueError, match="teacher_disp"):
        tcdepth_loss(inputs, outputs, poses, None, epoch=5)
    assert tcdepth_loss(inputs, outputs, poses, None, epoch=20).total < 1e-4


def test_bad_inputs_name_the_key(scene):
    inputs, outputs, poses, teacher = scene
    with pytest.raises(ValueError, match=r"poses\[1\]"):
        tcdepth_loss(inputs, outputs, {-1: poses[-1]}, teacher, 0)
    with pytest.raises(ValueError, match=r"color_0"):
        tcdepth_loss({**inputs, "color_0": inputs["color_0"][:, :2]}, outputs, poses, teacher, 0)
    with pytest.raises(ValueError, match=r"outputs\['disp'\]\[3\]"):
        tcdepth_loss(inputs, {**outputs, "disp": outputs["disp"][:3]}, poses, teacher, 0)


@pytest.mark.parametrize(
    "field,value",
    [("cycle_keep", 1.5), ("motion_ratio", 0.9), ("ssim_weight", -0.1), ("scales", [0, 0]),
     ("motion_epochs", [5, 2]), ("max_depth", 0.05), ("photometric_normalisation", "median"),
     ("multiscale", "bilinear"), ("source_reduction", "max"), ("scales_per_pass", 0)],
)
def test_config_validation_names_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        from_dict(LossConfig, {field: value})


def test_config_defaults_are_the_papers():
    cfg = from_dict(LossConfig, {"scales": [0, 1]})
    assert cfg.scales == (0, 1)
    assert (cfg.ssim_weight, cfg.smoothness_weight, cfg.geometric_weight, cfg.cycle_keep) == (0.85, 1e-3, 0.1, 0.7)
    assert (cfg.motion_ratio, cfg.motion_epochs, cfg.reference_weight) == (1.6, (0, 19), 1.0)
    assert cfg.motion_active(19) and not cfg.motion_active(20)


@pytest.mark.parametrize("reduction, expected", [("min", [[0.1, 0.0]]), ("mean", [[0.3, 0.25]])])
def test_reprojection_terms_reduce_the_source_frames(reduction, expected):
    target = torch.zeros(1, 3, 1, 2)
    sources = torch.stack([torch.full((1, 3, 1, 2), 0.5), torch.tensor([0.1, 0.0]).expand(1, 3, 1, 2)])  # [F=2]
    result = reprojection_terms(sources, target, ssim_weight=0.0, reduction=reduction)
    assert torch.allclose(result, torch.tensor(expected).reshape(1, 1, 1, 2))


def test_reprojection_terms_compare_every_stacked_copy_with_the_target():
    # two copies of a batch of one (as the scales of a pass are stacked), each source a constant offset of the
    # zero target: the L1 error per copy is its smaller offset.
    target = torch.zeros(1, 3, 1, 2)
    offsets = torch.tensor([[0.5, 0.2], [0.1, 0.4]])  # [F, copies]
    sources = offsets.reshape(2, 2, 1, 1, 1).expand(2, 2, 3, 1, 2)
    result = reprojection_terms(sources, target, ssim_weight=0.0)
    assert torch.allclose(result, torch.tensor([0.1, 0.2]).reshape(2, 1, 1, 1).expand(2, 1, 1, 2))
    with pytest.raises(ValueError, match=r"copies of a batch of 2 images"):
        reprojection_terms(sources[:, :1], torch.zeros(2, 3, 1, 2), ssim_weight=0.0)
    # with a gradient the frames are compared one at a time: the same values, and its gradient
    grad_sources = sources.clone().requires_grad_()
    assert torch.equal(reprojection_terms(grad_sources, target, ssim_weight=0.0), result)
    reprojection_terms(grad_sources, target, ssim_weight=0.0).sum().backward()
    expected_grad = torch.zeros(2, 2, 3, 1, 2)
    expected_grad[1, 0] = expected_grad[0, 1] = 1 / 3  # d|x|/dx = 1 for the minimum frame, mean over 3 channels
    assert torch.allclose(grad_sources.grad, expected_grad)


def test_cycle_error_of_identity_motion_is_zero_and_rejects_a_partial_copy():
    # identity transforms: the round trip lands every pixel back on itself, so the error is zero everywhere
    target = torch.rand(2, 3, 6, 8, generator=torch.Generator().manual_seed(5))
    K = make_intrinsics(4.6, 11.5, 4.0, 3.0).expand(2, 3, 3)
    depth = torch.full((2, 4, 1, 6, 8), 5.0)  # F=2 frames, two copies of the batch of 2
    v, u = torch.meshgrid(torch.arange(6.0), torch.arange(8.0), indexing="ij")
    pix = torch.stack((u, v), dim=-1).expand(2, 4, 6, 8, 2)
    identity = torch.eye(4).expand(2, 4, 4, 4)
    errors = cycle_error(target, depth, pix, K, torch.linalg.inv(K), identity)
    assert errors.shape == (2, 4, 1, 6, 8)
    assert errors.abs().max() < 1e-5
    with pytest.raises(ValueError, match=r"copies of a batch of 2 images"):
        cycle_error(target, depth[:, :3], pix[:, :3], K, torch.linalg.inv(K), identity[:, :3])


def test_mean_source_reduction_keeps_the_error_of_a_source_that_does_not_match(scene):
    # Identity poses: the warped sources are the sources. Frame +1 is a copy of the target, frame -1 is flat grey,
    # so the per-pixel minimum sees no error where the mean sees half of frame -1's L1 error.
    inputs, outputs, _, _ = scene
    frames = inputs["color_0"].clone()
    frames[:, 1] = 0.5
    frames[:, 2] = frames[:, 0]
    identity = {f: torch.eye(4).expand(2, 4, 4) for f in (-1, 1)}
    single = {"disp": [outputs["disp"][0][:, 0]]}
    cfg = LossConfig(scales=(0,), ssim_weight=0.0, smoothness_weight=0.0)
    sample = {**inputs, "color_0": frames}
    assert monodepth2_loss(sample, single, identity, cfg).total.item() == pytest.approx(0.0, abs=1e-7)
    mean = monodepth2_loss(sample, single, identity, dataclasses.replace(cfg, source_reduction="mean"))
    expected = (frames[:, 0] - 0.5).abs().mean() / 2
    assert mean.total.item() == pytest.approx(expected.item(), rel=1e-5)
