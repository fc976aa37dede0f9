"""Colour jitter against closed forms; shared vs per-frame parameters; determinism."""

import pytest
import torch

from tcdepth.data.augment import (
    AugmentSettings,
    JitterParams,
    apply_color_jitter,
    draw_augmentation,
    jitter_frames,
)


def test_brightness_alone_is_a_clamped_scale():
    images = torch.rand(2, 3, 8, 8)
    out = apply_color_jitter(images, JitterParams(brightness=1.15))
    torch.testing.assert_close(out, (images * 1.15).clamp(0, 1))


def test_zero_saturation_is_grey_and_zero_contrast_is_flat():
    images = torch.rand(1, 3, 8, 8)
    grey = apply_color_jitter(images, JitterParams(saturation=0.0))
    torch.testing.assert_close(grey[:, 0], grey[:, 1])
    torch.testing.assert_close(grey[:, 1], grey[:, 2])
    flat = apply_color_jitter(images, JitterParams(contrast=0.0))
    expected = (0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]).mean()
    torch.testing.assert_close(flat, torch.full_like(flat, float(expected)), atol=1e-3, rtol=0)


def test_hue_third_of_circle_turns_red_into_green():
    red = torch.zeros(1, 3, 4, 4)
    red[:, 0] = 0.8
    out = apply_color_jitter(red, JitterParams(hue=1 / 3))
    torch.testing.assert_close(out[:, 1], torch.full_like(out[:, 1], 0.8), atol=1e-4, rtol=0)
    assert out[:, 0].abs().max() < 1e-4 and out[:, 2].abs().max() < 1e-4


def test_shared_jitter_applies_one_transform_to_all_frames():
    frame = torch.rand(1, 3, 8, 8)
    frames = frame.repeat(3, 1, 1, 1)
    settings = AugmentSettings(jitter_prob=1.0, flip_prob=0.0)
    decision = draw_augmentation(settings, 3, torch.Generator().manual_seed(3))
    assert len(set(decision.jitter)) == 1
    out = jitter_frames(frames, decision)
    torch.testing.assert_close(out[0], out[1])
    torch.testing.assert_close(out[0], out[2])
    assert not torch.allclose(out, frames)


def test_per_frame_jitter_differs_between_frames():
    frames = torch.rand(1, 3, 8, 8).repeat(3, 1, 1, 1)
    settings = AugmentSettings(jitter_prob=1.0, per_frame_jitter=True)
    decision = draw_augmentation(settings, 3, torch.Generator().manual_seed(3))
    assert len(set(decision.jitter)) == 3
    out = jitter_frames(frames, decision)
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[2])


def test_draws_are_deterministic_and_within_ranges():
    settings = AugmentSettings()
    first = [draw_augmentation(settings, 3, torch.Generator().manual_seed(s)) for s in range(200)]
    again = [draw_augmentation(settings, 3, torch.Generator().manual_seed(s)) for s in range(200)]
    assert first == again
    flips = sum(d.flip for d in first)
    jitters = [d.jitter for d in first if d.jitter is not None]
    assert 60 < flips < 140 and 60 < len(jitters) < 140
    for params in jitters:
        p = params[0]
        assert 0.8 <= p.brightness <= 1.2 and 0.8 <= p.contrast <= 1.2 and 0.8 <= p.saturation <= 1.2
        assert -0.1 <= p.hue <= 0.1


@pytest.mark.parametrize("field, value", [("flip_prob", 1.5), ("brightness", -0.1), ("hue", 0.7)])
def test_bad_settings_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        AugmentSettings(**{field: value})
