"""Cropping: a face box in a frame -> a square uint8 RGB crop of `size` x `size` pixels.

Sits after face detection. The rule, written into every FaceSet's faceset.json:
- the square is centred on the detection's centre, with side = longer box side x (1 + 2 x margin),
  i.e. `margin` is the share of the box side added on each side (default 0.2: side = 1.4 x face);
- at the frame's border, `BorderMode.SHIFT` (default) moves the square back inside the frame, and
  shrinks it to the frame's shorter side if it is larger, so every pixel is a real camera pixel
  (black padding would be a cue a classifier could learn); `BorderMode.PAD` keeps the square where
  it is and fills what lies outside the frame with black;
- the square is resized to `size` with PIL's Lanczos filter over the source region, which
  anti-aliases when shrinking (plain subsampling of a 100-pixel face to 32 would alias).
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

from .records import Box


class BorderMode(StrEnum):
    SHIFT = "shift"
    PAD = "pad"


def square_box(box: Box, *, margin: float, frame_shape: tuple[int, ...], border: BorderMode) -> Box:
    """The square crop region for `box` in a frame of `frame_shape` (H, W, ...)."""
    height, width = int(frame_shape[0]), int(frame_shape[1])
    side = max(1, int(round(max(box.w, box.h) * (1.0 + 2.0 * margin))))
    cx, cy = box.x + box.w / 2.0, box.y + box.h / 2.0
    if border is BorderMode.SHIFT:
        side = min(side, width, height)
        x = int(round(cx - side / 2.0))
        y = int(round(cy - side / 2.0))
        x = min(max(x, 0), width - side)
        y = min(max(y, 0), height - side)
        return Box(x, y, side, side)
    return Box(int(round(cx - side / 2.0)), int(round(cy - side / 2.0)), side, side)


def crop_face(frame: np.ndarray, box: Box, *, size: int = 32, margin: float = 0.2,
              border: BorderMode = BorderMode.SHIFT) -> tuple[np.ndarray, Box]:
    """A (size, size, 3) uint8 crop of the face in `box`, and the square region it was taken from."""
    from PIL import Image

    region = square_box(box, margin=margin, frame_shape=frame.shape, border=border)
    patch = _cut(frame, region)
    image = Image.fromarray(patch, mode="RGB")
    resized = image.resize((size, size), resample=Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.uint8), region


def _cut(frame: np.ndarray, region: Box) -> np.ndarray:
    """The pixels of `region`, with black where it lies outside the frame."""
    height, width = frame.shape[:2]
    x0, y0, x1, y1 = region.x, region.y, region.x + region.w, region.y + region.h
    if x0 >= 0 and y0 >= 0 and x1 <= width and y1 <= height:
        return np.ascontiguousarray(frame[y0:y1, x0:x1, :3])
    patch = np.zeros((region.h, region.w, 3), dtype=np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if sx1 > sx0 and sy1 > sy0:
        patch[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = frame[sy0:sy1, sx0:sx1, :3]
    return patch
