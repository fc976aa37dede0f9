"""Shared fixtures of the interop tests: the conformance fixture (skipped with a reason when absent), the official
folders rebuilt from it, and the run directories `tcdepth import-weights` writes from them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tcdepth.cli.main import main

from . import official_fixture


@pytest.fixture(scope="session")
def fixture_dir() -> Path:
    path = official_fixture.locate()
    if path is None and os.environ.get(official_fixture.ENV):
        pytest.skip(f"official conformance fixture not found: ${official_fixture.ENV}="
                    f"{os.environ[official_fixture.ENV]} has no manifest.json")
    if path is None:
        pytest.skip(f"official conformance fixture not found (set ${official_fixture.ENV} or place it in "
                    f"{official_fixture.RELATIVE} in a parent folder of the repository)")
    return path


@pytest.fixture(scope="session")
def arrays(fixture_dir) -> dict[str, np.ndarray]:
    with np.load(fixture_dir / "fixture.npz") as data:
        return dict(data)


@pytest.fixture(scope="session")
def official_folders(fixture_dir, tmp_path_factory) -> dict[str, Path]:
    return official_fixture.build_folders(fixture_dir, tmp_path_factory.mktemp("official"))


@pytest.fixture(scope="session")
def imported_runs(official_folders, tmp_path_factory) -> dict[str, Path]:
    """``tcdepth import-weights`` of both folders (auto-detected format)."""
    out = tmp_path_factory.mktemp("imported")
    runs = {}
    for name, folder in official_folders.items():
        assert main(["import-weights", str(folder), str(out / name)]) == 0
        runs[name] = out / name
    return runs
