"""Shared fixtures of the data tests."""

import pytest


@pytest.fixture
def camera() -> dict:
    return {"fx": 40.0, "fy": 30.0, "cx": 47.5, "cy": 31.5, "width": 96, "height": 64}
