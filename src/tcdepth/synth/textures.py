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
    """A mip pyramid stored flat: level ``l`` (half the size of level ``l - 1``) is the ``height[l] x width[l]``
    row-major block of ``texels`` that starts at row ``offset[l]``."""

    texels: np.ndarray  # float32 [sum of h_l * w_l, C] in [0, 1], C = 1 (grey) or 3
    offset: np.ndarray  # int64 [L]
    height: np.ndarray  # int64 [L]
    width: np.ndarray  # int64 [L]
    texel: float  # metres per texel at level 0

    @property
    def levels(self) -> tuple[np.ndarray, ...]:
        """The pyramid images ``[h_l, w_l, C]``, finest first."""
        return tuple(self.texels[o:o + h * w].reshape(h, w, -1)
                     for o, h, w in zip(self.offset, self.height, self.width, strict=True))

    def sample(self, u: np.ndarray, v: np.ndarray, footprint: np.ndarray) -> np.ndarray:
        """Values ``[n,C]`` at texture coordinates ``u, v`` ``[n]`` (metres) for pixels of ``footprint`` metres."""
        ratio = np.maximum(footprint / self.texel, 1e-6)
        level = np.clip(np.frexp(ratio)[1] - 1, 0, len(self.offset) - 1)
        texel_size = self.texel * 2.0 ** np.arange(len(self.offset))  # metres per texel of each level
        width = self.width[level]
        col = np.floor(u / texel_size.astype(u.dtype)[level]).astype(np.int64) % width
        row = np.floor(v / texel_size.astype(v.dtype)[level]).astype(np.int64) % self.height[level]
        return self.texels[self.offset[level] + row * width + col]


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
    sizes = np.array([level.shape[0] * level.shape[1] for level in out])
    return Texture(np.concatenate([level.reshape(-1, img.shape[2]) for level in out]),
                   np.concatenate([[0], np.cumsum(sizes)[:-1]]), np.array([level.shape[0] for level in out]),
                   np.array([level.shape[1] for level in out]), texel)


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
