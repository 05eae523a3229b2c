"""Side-by-side pictures of an attack (attack stage -> report gallery): original | adversarial |
where the pixels changed. Face crops are small (32 px in the tests, 224 px in the paper), so the
panels are enlarged with nearest-neighbour scaling until a single pixel is visible."""

from __future__ import annotations

import numpy as np

#: Panels are enlarged to at least this many pixels high.
MIN_PANEL = 192
_GAP = 4
_OUTER = np.array([255, 230, 0], dtype=np.uint8)  # yellow ring ...
_INNER = np.array([0, 0, 0], dtype=np.uint8)  # ... around a black one: visible on any colour


def side_by_side(original: np.ndarray, adversarial: np.ndarray, perturbation: np.ndarray,
                 *, scale: int | None = None) -> np.ndarray:
    """uint8 (H*s, 3*W*s + 2*gap, 3). Third panel: the original dimmed, each changed pixel shown in
    its new colour inside a two-tone ring."""
    h, w, _ = original.shape
    s = scale or max(1, -(-MIN_PANEL // h))
    big = lambda im: np.repeat(np.repeat(np.asarray(im, dtype=np.uint8), s, axis=0), s, axis=1)  # noqa: E731
    marked = (original.astype(np.float32) * 0.35 + 40).astype(np.uint8)
    pixels = np.asarray(perturbation, dtype=np.int64).reshape(-1, 5)
    for x, y, *_ in pixels:
        marked[y, x] = adversarial[y, x]
    marked = big(marked)
    ring = max(1, s // 3)
    for x, y, *_ in pixels:
        _ring(marked, y * s, x * s, s, ring, 2 * ring, _OUTER)
        _ring(marked, y * s, x * s, s, ring, ring, _INNER)
    gap = np.full((h * s, _GAP, 3), 255, dtype=np.uint8)
    return np.concatenate([big(original), gap, big(adversarial), gap, marked], axis=1)


def _ring(canvas: np.ndarray, top: int, left: int, size: int, thickness: int, offset: int,
          colour: np.ndarray) -> None:
    """A square outline `offset` pixels outside the cell [top, top+size) x [left, left+size)."""
    hh, ww, _ = canvas.shape
    y0, y1 = max(0, top - offset), min(hh, top + size + offset)
    x0, x1 = max(0, left - offset), min(ww, left + size + offset)
    canvas[y0:min(y1, y0 + thickness), x0:x1] = colour
    canvas[max(y0, y1 - thickness):y1, x0:x1] = colour
    canvas[y0:y1, x0:min(x1, x0 + thickness)] = colour
    canvas[y0:y1, max(x0, x1 - thickness):x1] = colour
