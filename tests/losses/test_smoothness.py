import math

import pytest
import torch

from tcdepth.losses import smoothness


def test_constant_disparity_is_smooth():
    disp = torch.full((2, 1, 6, 8), 0.4)
    assert smoothness(disp, torch.rand(2, 3, 6, 8)).item() == 0.0


@pytest.mark.parametrize("image_slope", [0.0, 0.05])
def test_ramp_closed_form(image_slope):
    h, w, a, b = 5, 9, 0.2, 0.03
    u = torch.arange(w, dtype=torch.float64)
    disp = (a + b * u).expand(1, 1, h, w)
    img = (image_slope * u).expand(1, 3, h, w)
    mean = a + b * (w - 1) / 2
    # Every horizontal difference of the normalised ramp is b / mean, weighted by exp(-|image step|);
    # vertical differences are 0.
    expected = b / mean * math.exp(-image_slope)  # up to the 1e-7 guard added to the mean
    assert smoothness(disp, img).item() == pytest.approx(expected, rel=1e-6)


def test_rejects_mismatched_sizes():
    with pytest.raises(ValueError, match="same H, W"):
        smoothness(torch.rand(1, 1, 4, 4), torch.rand(1, 3, 8, 8))
