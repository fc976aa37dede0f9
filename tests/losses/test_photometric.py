import numpy as np
import pytest
import torch

from tcdepth.losses import automask, photometric_error, ssim
from tcdepth.models.summary import saved_for_backward

C1, C2 = 0.01**2, 0.03**2


def naive_ssim(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-pixel loop over 3x3 reflection-padded windows of ``[C,H,W]`` arrays."""
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="reflect")
    yp = np.pad(y, ((0, 0), (1, 1), (1, 1)), mode="reflect")
    out = np.zeros_like(x)
    for c in range(x.shape[0]):
        for i in range(x.shape[1]):
            for j in range(x.shape[2]):
                wx = xp[c, i:i + 3, j:j + 3]
                wy = yp[c, i:i + 3, j:j + 3]
                mx, my = wx.mean(), wy.mean()
                vx = (wx**2).mean() - mx**2
                vy = (wy**2).mean() - my**2
                cxy = (wx * wy).mean() - mx * my
                s = (2 * mx * my + C1) * (2 * cxy + C2) / ((mx**2 + my**2 + C1) * (vx + vy + C2))
                out[c, i, j] = min(max((1 - s) / 2, 0.0), 1.0)
    return out


def test_ssim_of_identical_images_is_zero():
    x = torch.rand(2, 3, 7, 9)
    assert torch.allclose(ssim(x, x), torch.zeros_like(x), atol=1e-6)


def test_ssim_matches_naive_loop():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 2, 5, 6, generator=gen, dtype=torch.float64)
    y = (x + 0.3 * torch.rand(1, 2, 5, 6, generator=gen, dtype=torch.float64)).clamp(0, 1)
    expected = naive_ssim(x[0].numpy(), y[0].numpy())
    np.testing.assert_allclose(ssim(x, y)[0].numpy(), expected, atol=1e-10)


def test_a_shared_target_broadcasts_against_stacked_copies():
    # warped images [copies=2, B=2, C, H, W] against one target per sample [B, C, H, W]
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(2, 2, 3, 5, 6, generator=gen, dtype=torch.float64)
    y = torch.rand(2, 3, 5, 6, generator=gen, dtype=torch.float64)
    dissimilarity = ssim(x, y)
    error = photometric_error(x, y)
    assert dissimilarity.shape == x.shape and error.shape == (2, 2, 1, 5, 6)
    for k in range(2):
        for i in range(2):
            expected = naive_ssim(x[k, i].numpy(), y[i].numpy())
            np.testing.assert_allclose(dissimilarity[k, i].numpy(), expected, atol=1e-10)
            l1 = np.abs(x[k, i].numpy() - y[i].numpy()).mean(0)
            np.testing.assert_allclose(error[k, i, 0].numpy(), 0.85 * expected.mean(0) + 0.15 * l1, atol=1e-10)


@pytest.mark.parametrize("c,d", [(0.3, 0.2), (0.6, -0.1)])
def test_photometric_error_of_constant_offset(c, d):
    # Constant images: no variance, so SSIM = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1) and
    # (1 - SSIM) / 2 = d^2 / (2 ((c + d)^2 + c^2 + C1)).
    target = torch.full((1, 3, 4, 5), c, dtype=torch.float64)
    pred = target + d
    dissim = d**2 / (2 * ((c + d) ** 2 + c**2 + C1))
    expected = 0.85 * dissim + 0.15 * abs(d)
    out = photometric_error(pred, target)
    assert out.shape == (1, 1, 4, 5)
    assert torch.allclose(out, torch.full_like(out, expected), atol=1e-12)


def test_photometric_error_pure_l1_averages_channels():
    target = torch.zeros(1, 3, 4, 4)
    pred = torch.zeros(1, 3, 4, 4)
    pred[:, 0] = 0.3
    out = photometric_error(pred, target, ssim_weight=0.0)
    assert torch.allclose(out, torch.full_like(out, 0.1))


def test_photometric_error_gradient_is_right_and_only_the_images_are_kept():
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 6, 7, generator=gen, dtype=torch.float64, requires_grad=True)
    y = torch.rand(1, 3, 6, 7, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: photometric_error(a, b), (x, y))  # against finite differences
    big_x = torch.rand(2, 3, 64, 96, generator=gen, requires_grad=True)
    big_y = torch.rand(2, 3, 64, 96, generator=gen)
    image_bytes = big_x.numel() * big_x.element_size()
    assert saved_for_backward(lambda: photometric_error(big_x, big_y))[1] <= 2 * image_bytes


def test_automask_tie_rule_decides_exactly_equal_errors():
    r = torch.tensor([0.2, 0.3, 0.4]).reshape(1, 1, 1, 3)
    r_id = torch.tensor([0.3, 0.3, 0.3]).reshape(1, 1, 1, 3)
    assert automask(r, r_id, tie_noise=0).flatten().tolist() == [1.0, 0.0, 0.0]
    assert automask(r, r_id, tie_noise=0, ties="reprojection").flatten().tolist() == [1.0, 1.0, 0.0]


def test_automask_noise_of_stacked_scales_is_one_draw_per_scale_in_scale_order():
    """The reference draws ``randn(B,1,H,W)`` once per scale; a pass of 3 scales stacked on the batch axis draws
    the same numbers in one call."""
    b, h, w = 2, 4, 8
    r = torch.rand(3 * b, 1, h, w)
    r_id = r + 2e-5 * (torch.rand(3 * b, 1, h, w) - 0.5)  # near-ties that the noise decides
    torch.manual_seed(0)
    per_scale = [(r_id_s + torch.randn(b, 1, h, w) * 1e-5 >= r_s).float()
                 for r_s, r_id_s in zip(r.chunk(3), r_id.chunk(3), strict=True)]
    torch.manual_seed(0)
    stacked = automask(r, r_id, ties="reprojection")
    assert torch.equal(stacked, torch.cat(per_scale))
