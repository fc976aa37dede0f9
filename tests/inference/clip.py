"""Shared constants and the synthetic clip of the inference tests."""

from __future__ import annotations

import numpy as np

NET_HEIGHT, NET_WIDTH = 64, 96
FRAME_HEIGHT, FRAME_WIDTH = 64, 192
NUM_FRAMES = 5


def clip_frames(count: int = NUM_FRAMES) -> list[np.ndarray]:
    """A textured pattern moving sideways, uint8 ``[64,192,3]`` frames."""
    v, u = np.mgrid[0:FRAME_HEIGHT, 0:FRAME_WIDTH]
    frames = []
    for t in range(count):
        phase = u + 3 * t
        frame = np.stack([(phase * 7) % 256, (v * 5 + phase) % 256, ((phase // 16 + v // 16) % 2) * 200 + 30], -1)
        frames.append(frame.astype(np.uint8))
    return frames


def write_mp4(path, frames, fps: int = 10) -> None:
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = FRAME_WIDTH, FRAME_HEIGHT, "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
