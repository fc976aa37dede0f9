"""Shared fixtures of the loss tests."""

import pytest

from .plane_scene import make_scene


@pytest.fixture
def scene():
    """A textured plane seen by a camera moving along x: inputs, outputs, poses and teacher that agree exactly."""
    return make_scene()
