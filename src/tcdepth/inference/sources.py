"""Frames of ``tcdepth predict``'s input: a video file (PyAV), a folder of frames, or a glob pattern."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from tcdepth.data.base import read_rgb
from tcdepth.data.video import FRAME_EXTENSIONS, iter_video_frames

DEFAULT_FOLDER_FPS = 10.0


def is_glob(source: str) -> bool:
    return any(char in source for char in "*?[") and not Path(source).exists()


def iter_source_frames(source: str | Path) -> Iterator[Image.Image]:
    """RGB frames of a video file, a folder of png/jpg frames (name order) or a glob pattern (sorted matches)."""
    source = str(source)
    if is_glob(source):
        files = sorted(glob.glob(source))
        if not files:
            raise ValueError(f"glob pattern {source!r} matches no file")
        for path in files:
            yield read_rgb(Path(path))
        return
    yield from iter_video_frames(Path(source))


def count_source_frames(source: str | Path) -> int | None:
    """How many frames the source holds: files of a folder or glob, the video stream's frame count (None when the
    container does not say)."""
    source = str(source)
    if is_glob(source):
        return len(glob.glob(source))
    path = Path(source)
    if path.is_dir():
        return sum(1 for p in path.iterdir() if p.suffix.lower() in FRAME_EXTENSIONS)
    if not path.is_file():
        return None
    import av

    try:
        with av.open(str(path)) as container:
            frames = container.streams.video[0].frames if container.streams.video else 0
    except av.error.FFmpegError:
        return None
    return frames or None


def limit_pixels(frames: Iterator[Image.Image], max_pixels: int, notice=None) -> Iterator[Image.Image]:
    """Frames larger than ``max_pixels`` downscaled (aspect kept, Lanczos) to at most that many pixels;
    ``notice(message)`` is called once when they are."""
    told = False
    for frame in frames:
        pixels = frame.width * frame.height
        if pixels > max_pixels:
            factor = (max_pixels / pixels) ** 0.5
            size = (max(1, int(frame.width * factor)), max(1, int(frame.height * factor)))
            if not told and notice is not None:
                notice(f"frames are {frame.width}x{frame.height} ({pixels / 1e6:.1f} MP), more than --max-pixels "
                       f"{max_pixels}: predicting and writing them at {size[0]}x{size[1]}")
                told = True
            frame = frame.resize(size, Image.Resampling.LANCZOS)
        yield frame


def select_frames(frames: Iterator[Image.Image], stride: int = 1,
                  max_frames: int | None = None) -> Iterator[tuple[int, Image.Image]]:
    """``(source frame number, frame)`` of every ``stride``-th frame, at most ``max_frames`` of them."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    kept = 0
    for number, frame in enumerate(frames):
        if number % stride:
            continue
        yield number, frame
        kept += 1
        if max_frames is not None and kept >= max_frames:
            return


def source_fps(source: str | Path) -> float:
    """Frame rate of a video file (its stream's average rate), ``DEFAULT_FOLDER_FPS`` for folders and globs."""
    path = Path(source)
    if is_glob(str(source)) or path.is_dir() or not path.is_file():
        return DEFAULT_FOLDER_FPS
    import av

    try:
        with av.open(str(path)) as container:
            rate = container.streams.video[0].average_rate if container.streams.video else None
    except av.error.FFmpegError as err:
        raise ValueError(f"cannot decode video {path}: {err}") from err
    return float(rate) if rate else DEFAULT_FOLDER_FPS
