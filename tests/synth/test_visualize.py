import matplotlib
import numpy as np
from PIL import Image

from tcdepth.visualize import colorize, colorize_depth, contact_sheet, save_png


def test_colorize_maps_range_ends_to_colormap_ends():
    values = np.array([[0.0, 0.5, 1.0, np.nan]])
    rgb = colorize(values, "magma")
    magma = matplotlib.colormaps["magma"]
    np.testing.assert_allclose(rgb[0, 0], np.array(magma(0.0)[:3]) * 255, atol=1)
    np.testing.assert_allclose(rgb[0, 2], np.array(magma(1.0)[:3]) * 255, atol=1)
    np.testing.assert_array_equal(rgb[0, 3], [0, 0, 0])


def test_colorize_depth_near_is_bright_and_sky_is_like_zero_inverse_depth():
    depth = np.array([[1.0, 10.0, 100.0, np.inf]])
    rgb = colorize_depth(depth).astype(int)
    assert rgb[0, 0].sum() > rgb[0, 1].sum() > rgb[0, 2].sum()
    np.testing.assert_array_equal(rgb[0, 3], colorize(np.zeros((1, 1)), "magma")[0, 0])


def test_contact_sheet_and_png_round_trip(tmp_path):
    a = np.full((10, 20, 3), 200, np.uint8)
    b = np.zeros((10, 12), np.uint8)
    sheet = contact_sheet([[a, b], [a, b]], ["rgb", "mask"], gap=2)
    assert sheet.shape == (14 + 2 * 10 + 3 * 2, 20 + 12 + 3 * 2, 3)
    save_png(tmp_path / "sheet.png", sheet)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "sheet.png")), sheet)
