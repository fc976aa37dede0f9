"""The official-checkpoint conformance fixture (``shared/fixtures/official``, its README.md is the contract): where it
is, and the official-format checkpoint folders rebuilt from its seeded-weight rule and manifest.

The fixture stays outside the repository: ``$TCDEPTH_OFFICIAL_FIXTURE``, else the nearest ``shared/fixtures/official``
in a parent folder of the repository.
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

import numpy as np
import torch

ENV = "TCDEPTH_OFFICIAL_FIXTURE"
RELATIVE = Path("shared") / "fixtures" / "official"
FAMILIES = {"tc": "tc_depth", "md2": "monodepth2"}


def locate() -> Path | None:
    """The fixture folder, or None when it is absent."""
    if os.environ.get(ENV):
        path = Path(os.environ[ENV])
        return path if (path / "manifest.json").is_file() else None
    for parent in Path(__file__).resolve().parents:
        if (parent / RELATIVE / "manifest.json").is_file():
            return parent / RELATIVE
    return None


def reference_bins() -> np.ndarray:
    """``torch.linspace(0.01, 10, 256)`` bit-exactly, by the README's formula (float32 step, one rounding each)."""
    start, end = np.float32(0.01), np.float32(10)
    step = np.float32((end - start) / np.float32(255))
    i = np.arange(256, dtype=np.float64)
    values = np.where(i < 128, np.float64(start) + np.float64(step) * i,
                      np.float64(end) - np.float64(step) * (255 - i))
    return values.astype(np.float32).reshape(1, 256, 1, 1)


def seeded_tensor(master_seed: int, gain: float, stem: str, name: str, shape: list[int], dtype: str) -> np.ndarray:
    """The rule's value of one state-dict entry (README section 1)."""
    if stem == "ref_depth" and name == "ref_disp":
        return reference_bins()
    rng = np.random.default_rng(zlib.crc32(f"{master_seed}/{stem}/{name}".encode()))
    u = rng.uniform(-1.0, 1.0, size=shape)
    if not dtype.startswith("float"):
        return np.zeros(shape, dtype=dtype)
    if name.endswith("running_mean"):
        value = 0.1 * u
    elif name.endswith("running_var"):
        value = 1 + 0.5 * np.abs(u)
    elif len(shape) >= 2:
        value = gain * np.sqrt(3 / np.prod(shape[1:])) * u
    elif name.endswith("weight"):
        value = 1 + 0.1 * u
    elif name.endswith("bias"):
        value = 0.1 * u
    else:
        value = 0.5 + 0.5 * np.abs(u)
    return value.astype(dtype)


def build_folders(fixture: Path, out: Path, size: tuple[int, int] | None = None) -> dict[str, Path]:
    """Write the official folders ``tc/`` and ``md2/`` of the fixture's manifest under ``out``; returns them by
    name. ``size``: ``(height, width)`` stored in ``encoder.pth`` instead of the manifest's (a smaller training size
    for quick command tests)."""
    manifest = json.loads((fixture / "manifest.json").read_text())
    folders = {}
    for folder, family in FAMILIES.items():
        spec = manifest[family]
        path = out / folder
        path.mkdir(parents=True, exist_ok=True)
        for filename, content in spec["files"].items():
            stem = filename.removesuffix(".pth")
            values = {name: seeded_tensor(manifest["master_seed"], manifest["gain"], stem, name, shape, dtype)
                      for name, shape, dtype in content["keys"]}
            order = [name for name, _, _ in content["keys"]]
            for group in spec["aliases"].get(stem, []):
                last = max(group, key=order.index)
                for name in group:
                    values[name] = values[last]
            state = {name: torch.from_numpy(np.array(values[name])) for name in order}
            extras = dict(content.get("extras", {}))
            if extras and size is not None:
                extras.update(height=size[0], width=size[1])
            state.update(extras)
            torch.save(state, path / filename)
        folders[folder] = path
    return folders
