import pytest

from tcdepth.geometry import check_network_size


@pytest.mark.parametrize("height,width", [(32, 32), (192, 640), (96, 320)])
def test_multiples_of_32_are_accepted(height, width):
    check_network_size(height, width)


@pytest.mark.parametrize("height,width,name", [(0, 64, "height"), (-32, 64, "height"), (100, 64, "height"),
                                               (64, 33, "width"), (64, 0, "width")])
def test_other_sizes_name_the_axis(height, width, name):
    with pytest.raises(ValueError, match=f"{name} must be a positive multiple of 32"):
        check_network_size(height, width)
