"""Frames of ``tcdepth predict``'s input: a video file (PyAV), a folder of frames, or a glob pattern."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from tcdepth.data.base import read_rgb
from tcdepth.data.video import iter_video_frames

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
