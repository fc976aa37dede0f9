"""Texture library: photographs shipped with scikit-image and matplotlib, and procedural noise, as mip pyramids.

Textures are addressed in metres: ``Texture.sample(u, v, footprint)`` tiles the image with ``texel`` metres per
texel and picks the pyramid level whose texel matches the pixel footprint (a cheap stand-in for trilinear
filtering that keeps far, oblique surfaces such as the road from flickering between frames).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

PHOTO_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "grace_hopper", "present")


@dataclass(frozen=True)
class Texture:
    levels: tuple[np.ndarray, ...]  # float32 [h, w, C] in [0, 1], C = 1 (grey) or 3; level l is half of l-1
    texel: float  # metres per texel at level 0

    def sample(self, u: np.ndarray, v: np.ndarray, footprint: np.ndarray) -> np.ndarray:
        """Values ``[n,C]`` at texture coordinates ``u, v`` ``[n]`` (metres) for pixels of ``footprint`` metres."""
        ratio = np.maximum(footprint / self.texel, 1e-6)
        level = np.clip(np.frexp(ratio)[1] - 1, 0, len(self.levels) - 1)
        low, high = int(level.min(initial=0)), int(level.max(initial=0))
        out = np.empty((u.shape[0], self.levels[0].shape[2]), np.float32)
        for lvl in range(low, high + 1):
            sel = slice(None) if low == high else level == lvl
            img = self.levels[lvl]
            size = self.texel * 2.0**lvl
            col = np.floor(u[sel] / size).astype(np.int64) % img.shape[1]
            row = np.floor(v[sel] / size).astype(np.int64) % img.shape[0]
            out[sel] = np.take(img.reshape(-1, img.shape[2]), row * img.shape[1] + col, axis=0)
        return out


def _pyramid(image: np.ndarray, texel: float, levels: int = 7) -> Texture:
    img = image.astype(np.float32)
    if img.max() > 1.0:
        img = img / 255.0
    img = img[:, :, None] if img.ndim == 2 else img[:, :, :3]
    out = [np.ascontiguousarray(img)]
    for _ in range(levels - 1):
        prev = out[-1]
        h, w = prev.shape[0] // 2 * 2, prev.shape[1] // 2 * 2
        if h < 2 or w < 2:
            break
        prev = prev[:h, :w]
        out.append(0.25 * (prev[0::2, 0::2] + prev[1::2, 0::2] + prev[0::2, 1::2] + prev[1::2, 1::2]))
    return Texture(tuple(out), texel)


def _value_noise(size: int, seed: int) -> np.ndarray:
    """Tileable multi-octave value noise ``[size, size]`` in [0, 1] (fixed seed: part of the renderer)."""
    rng = np.random.default_rng(seed)
    total = np.zeros((size, size), np.float32)
    amplitude, weight = 1.0, 0.0
    cells = 4
    while cells <= size:
        grid = rng.random((cells, cells)).astype(np.float32)
        coords = np.arange(size, dtype=np.float32) * cells / size
        i0 = np.floor(coords).astype(np.int64)
        f = coords - i0
        f = f * f * (3 - 2 * f)
        i1 = (i0 + 1) % cells
        rows = grid[i0] * (1 - f)[:, None] + grid[i1] * f[:, None]
        layer = rows[:, i0] * (1 - f)[None, :] + rows[:, i1] * f[None, :]
        total += amplitude * layer
        weight += amplitude
        amplitude *= 0.6
        cells *= 2
    total /= weight
    return (total - total.min()) / (total.max() - total.min())


def _normalised_gray(image: np.ndarray, contrast: float) -> np.ndarray:
    img = image.astype(np.float32)
    img = (img - img.mean()) / (img.std() + 1e-6)
    return np.clip(0.5 + contrast * img / 4, 0, 1)


def _photo(name: str) -> np.ndarray:
    import skimage.data

    if name == "grace_hopper":
        return _read_sample("grace_hopper.jpg")
    if name == "present":
        return _read_sample("Minduka_Present_Blue_Pack.png")
    return getattr(skimage.data, name)()


def _read_sample(name: str) -> np.ndarray:
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data(name, asfileobj=False)) as img:
        return np.asarray(img.convert("RGB"))


@functools.lru_cache(maxsize=1)
def texture_library() -> dict[str, Texture]:
    """All textures by name: ``asphalt``, ``paving``, ``grass``, ``brick``, ``plaster``, ``noise``, ``photo:<n>``."""
    import skimage.data

    noise = _value_noise(256, seed=7)
    lib = {
        "asphalt": _pyramid(_normalised_gray(skimage.data.gravel(), 0.9) * 0.8 + 0.2 * np.tile(noise, (2, 2)), 0.01),
        "paving": _pyramid(_normalised_gray(skimage.data.gravel(), 0.6), 0.006),
        "grass": _pyramid(_normalised_gray(skimage.data.grass(), 1.2), 0.004),
        "brick": _pyramid(_normalised_gray(skimage.data.brick(), 1.3), 0.008),
        "plaster": _pyramid(0.5 * noise + 0.5 * _normalised_gray(skimage.data.gravel()[::2, ::2], 0.4), 0.02),
        "noise": _pyramid(noise, 0.1),
    }
    for name in PHOTO_NAMES:
        img = _photo(name)
        lib[f"photo:{name}"] = _pyramid(img, 1.0 / img.shape[1])
    return lib
