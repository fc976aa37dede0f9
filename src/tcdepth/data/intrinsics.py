"""The intrinsics file shared by training, evaluation and inference on any camera.

Format (YAML), pixel units of the original frames, and the size they refer to::

    fx: 721.54
    fy: 721.54
    cx: 609.56
    cy: 172.85
    width: 1242
    height: 375

``Intrinsics.K_for(height, width)`` rescales the matrix to the network resolution.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import yaml

from tcdepth.geometry import make_intrinsics, resize_intrinsics

_FIELDS = ("fx", "fy", "cx", "cy", "width", "height")
ASPECT_TOLERANCE = 0.01  # relative difference of width/height under which frames of another size are rescaled to

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels of an image of ``width x height``."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self):
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        if not (0 <= self.cx <= self.width and 0 <= self.cy <= self.height):
            raise ValueError(f"principal point ({self.cx:g}, {self.cy:g}) lies outside the {self.width}x{self.height} "
                             "image it is given for")

    def check_frames(self, height: int, width: int, source: str = "intrinsics") -> None:
        """Accept frames of ``height x width``: the size the intrinsics are for, or (with a warning that the matrix
        is rescaled) a size of the same aspect ratio; refuse any other size, naming ``source``."""
        if (height, width) == (self.height, self.width):
            return
        aspect, frames = self.width / self.height, width / height
        if abs(frames / aspect - 1) > ASPECT_TOLERANCE:
            raise ValueError(f"{source}: given for {self.width}x{self.height} images (aspect {aspect:.3f}), the frames "
                             f"are {width}x{height} (aspect {frames:.3f}); give the intrinsics of these frames")
        log.warning("%s: given for %dx%d images, the frames are %dx%d: rescaled to them (fx, cx x %.4g; fy, cy x %.4g)",
                    source, self.width, self.height, width, height, width / self.width, height / self.height)

    def K(self) -> torch.Tensor:
        """``[3,3]`` pixel intrinsics at the original size."""
        return make_intrinsics(self.fx, self.fy, self.cx, self.cy)

    def K_for(self, height: int, width: int) -> torch.Tensor:
        """``[3,3]`` pixel intrinsics for the image resized to ``height x width``."""
        return resize_intrinsics(self.K(), (self.height, self.width), (height, width))

    @classmethod
    def from_fov(cls, width: int, height: int, horizontal_fov_deg: float) -> Intrinsics:
        """Centred intrinsics with square pixels and the given horizontal field of view."""
        import math

        f = 0.5 * width / math.tan(math.radians(horizontal_fov_deg) / 2)
        return cls(f, f, (width - 1) / 2, (height - 1) / 2, width, height)


def load_intrinsics(path: str | Path) -> Intrinsics:
    """Read an intrinsics YAML file; a missing file, key or a bad value raises an error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"intrinsics file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"intrinsics file {path} is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"intrinsics file {path}: expected a mapping with keys {', '.join(_FIELDS)}")
    missing = [k for k in _FIELDS if k not in data]
    if missing:
        raise ValueError(f"intrinsics file {path}: missing key(s) {', '.join(missing)} "
                         f"(expected {', '.join(_FIELDS)} in pixels of the original frames)")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ValueError(f"intrinsics file {path}: unknown key(s) {', '.join(unknown)}")
    try:
        values = {k: float(data[k]) for k in ("fx", "fy", "cx", "cy")}
        size = {k: int(data[k]) for k in ("width", "height")}
        return Intrinsics(**values, **size)
    except (TypeError, ValueError) as err:
        raise ValueError(f"intrinsics file {path}: {err}") from err


def save_intrinsics(intrinsics: Intrinsics, path: str | Path) -> None:
    """Write ``intrinsics`` in the YAML format that :func:`load_intrinsics` reads (atomically)."""
    from tcdepth.io import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(asdict(intrinsics), sort_keys=False))
