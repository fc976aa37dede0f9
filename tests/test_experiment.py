"""Experiment configs: combinations of sections that the networks and objectives cannot honour are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcdepth.config import ConfigError
from tcdepth.experiment import load_experiment

CONFIGS = Path(__file__).parents[1] / "configs"


@pytest.mark.parametrize("frame_ids", ["[0, -2, 2]", "[0, 1, -1]", "[0, -1, 1, 2]"])
def test_frame_ids_other_than_the_triplet_are_refused(frame_ids):
    with pytest.raises(ConfigError, match=r"data.frame_ids: .*\[0, -1, 1\]"):
        load_experiment(CONFIGS / "synthetic_tiny.yaml", [f"data.frame_ids={frame_ids}"])


@pytest.mark.parametrize("value", ["min_mean", "masked_mean"])
def test_photometric_normalisation_is_refused_for_monodepth2_which_ignores_it(value):
    with pytest.raises(ConfigError, match="loss.photometric_normalisation"):
        load_experiment(CONFIGS / "synthetic_tiny_monodepth2.yaml", [f"loss.photometric_normalisation={value}"])
    assert load_experiment(CONFIGS / "synthetic_tiny.yaml",
                           [f"loss.photometric_normalisation={value}"]).loss.photometric_normalisation == value
