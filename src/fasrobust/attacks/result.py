"""What one attack on one image produced. Pixel perturbations are (d, 5) integer rows
(x, y, r, g, b): a column, a row, and an 8-bit RGB colour, so every adversarial image is a real
8-bit image that can be saved as PNG and checked again."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class AttackResult:
    index: int  # position of the image in the attacked batch (the FaceSet id is kept by the caller)
    success: bool  # P(live) >= 0.5 after the attack, re-verified from the saved PNG when one was written
    queries: int  # images scored by the target for this image (1, the clean image, when already called live)
    generations: int  # DE generations run (0 when it was already called live)
    p_live_before: float
    p_live_after: float
    perturbation: np.ndarray  # (d, 5) int: x, y, r, g, b
    fitness_history: np.ndarray  # best spoof confidence (1 - P(live)) after the start and each generation
    wall_time_s: float
    seed: int
    pixels: int
    already_live: bool = False  # called live before any change: a success with 0 queries (the paper)
    verified: bool | None = None  # True/False after the PNG round trip; None when not checked
    note: str = ""  # e.g. why a success did not verify
    extra: dict = field(default_factory=dict)


def apply_perturbation(image: np.ndarray, perturbation: np.ndarray) -> np.ndarray:
    """A copy of `image` (H, W, 3 uint8) with the (d, 5) pixel changes written in; later rows win."""
    out = np.array(image, dtype=np.uint8, copy=True)
    for x, y, r, g, b in np.asarray(perturbation, dtype=np.int64):
        out[y, x] = (r, g, b)
    return out
