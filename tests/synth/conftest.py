import pytest

from tcdepth.synth import SynthConfig, render_sequence

TINY = dict(width=192, height=64, frames=14, static_frames=4)


@pytest.fixture(scope="package")
def tiny_cfg():
    return SynthConfig(**TINY)


@pytest.fixture(scope="package")
def tiny_frames(tiny_cfg):
    return list(render_sequence(tiny_cfg, seed=5))
