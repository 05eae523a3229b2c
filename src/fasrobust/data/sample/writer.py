"""Writes a clip of the SYNTHETIC sample database as Replay-Attack does: an H.264 `.mov` video and
a `.face` file with one line per frame, `frame x y w h` (top-left corner, integers, frame from 0).

The encoder is part of the simulation: its compression is the last thing that happens to every
frame, live or attack. One encoder thread and fixed settings (see `x264_options`) make the output
reproducible on one machine; across machines (other x264 builds, other CPUs) decoded frames may
differ slightly, so checks compare decoded frames with a small tolerance, never file bytes.
"""

from __future__ import annotations

import platform
from functools import cache
from pathlib import Path

import numpy as np

FPS = 25
#: x264 settings: quality like a 2010 webcam recording, fast, one thread (threads make it nondeterministic).
X264_OPTIONS = {"crf": "23", "preset": "veryfast", "threads": "1"}


@cache
def x264_options() -> dict[str, str]:
    """X264_OPTIONS, plus: on x86 CPUs with AVX-512, x264's AVX-512 routines made the output vary
    from run to run with identical input (measured with the PyAV 18 wheel), so they are switched off
    there; AVX2 is just as fast. Other CPUs keep x264's own choice."""
    options = dict(X264_OPTIONS)
    if platform.machine().lower() in ("x86_64", "amd64"):
        try:
            flags = Path("/proc/cpuinfo").read_text()
        except OSError:
            flags = ""
        if "avx512f" in flags and "avx2" in flags:
            options["x264-params"] = "asm=AVX2"
    return options


def write_video(path: Path, frames: np.ndarray, fps: int = FPS, crf: int | None = None) -> None:
    """uint8 (T, H, W, 3) RGB frames (even H and W) -> H.264 yuv420p video; container from the suffix.
    crf: x264's constant rate factor, the recording's compression (default X264_OPTIONS')."""
    import av

    _, h, w, _ = frames.shape
    path.parent.mkdir(parents=True, exist_ok=True)
    options = dict(x264_options()) | ({} if crf is None else {"crf": str(crf)})
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for index, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p")
            picture.pts = index
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))


def face_lines(boxes: np.ndarray, size: tuple[int, int]) -> str:
    """`.face` text for float (T, 4) boxes, rounded and clipped to the frame."""
    w, h = size
    lines = []
    for index, (x, y, bw, bh) in enumerate(boxes):
        x0, y0 = max(0, round(x)), max(0, round(y))
        x1, y1 = min(w, round(x + bw)), min(h, round(y + bh))
        lines.append(f"{index} {x0} {y0} {x1 - x0} {y1 - y0}")
    return "\n".join(lines) + "\n"


def write_face_file(path: Path, boxes: np.ndarray, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(face_lines(boxes, size))


def read_video(path: Path) -> np.ndarray:
    """All frames of a video as uint8 (T, H, W, 3) RGB (used by checks and tests)."""
    import av

    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])
