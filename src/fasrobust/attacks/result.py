"""What one attack on one image produced (attack stage -> store). Pixel perturbations are (d, 5) integer
rows (x, y, r, g, b): a column, a row, and an 8-bit RGB colour, so every adversarial image is a real 8-bit
image that can be saved as PNG and checked again.

The trajectory is indexed by queries, so every attack's curve lies on one axis: rows (q, s) say that after
q queries on this image (the clean image's first query included) the best spoof confidence 1 - P(live)
found was s. Only the points where it changed are kept, plus the first and the last, so the value at
any q is the last row at or before it (a step function), whatever the attack. Attacks that shrink the
number of pixels they change (the decision-based ones) also keep `l0_trajectory`: rows (q, pixels changed)
at each change, on the same query axis."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class AttackResult:
    index: int  # position of the image in the attacked batch (the FaceSet id is kept by the caller)
    success: bool  # called live after the attack, re-verified from the PNG when one was written
    queries: int  # images scored by the target for this image, the clean image's query included
    query_budget: int  # the most this attack could have spent on it
    p_live_before: float
    p_live_after: float
    perturbation: np.ndarray  # (d, 5) int: x, y, r, g, b
    trajectory: np.ndarray  # (m, 2) float: queries spent, best spoof confidence so far
    wall_time_s: float
    seed: int
    threshold: float | None  # the criterion on scores: called live iff P(live) >= threshold (None: decisions)
    already_live: bool = False  # called live before any change: a success after the one clean query
    verified: bool | None = None  # True/False after the PNG round trip; None when not checked
    note: str = ""  # e.g. why a success did not verify
    extra: dict = field(default_factory=dict)  # attack-specific facts (DE generations), verification queries
    answer: str = "score"  # what the target answered: "score" (P(live)) or "decision" (live or spoof only)
    pixels_changed: int = 0  # L0: pixels whose colour differs from the original in the final image
    l0_trajectory: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # (m, 2): queries, pixels changed
    start_id: int | None = None  # decision-based attacks: the id of the live image the search started from


def changed_pixels(original: np.ndarray, perturbation: np.ndarray) -> int:
    """L0 of a perturbation on an (H, W, 3) image: pixels whose colour it actually changes (writing a pixel's
    own colour changes nothing)."""
    adversarial = apply_perturbation(original, perturbation)
    return int(np.any(adversarial != np.asarray(original), axis=-1).sum())


def apply_perturbation(image: np.ndarray, perturbation: np.ndarray) -> np.ndarray:
    """A copy of `image` (H, W, 3 uint8) with the (d, 5) pixel changes written in; later rows win."""
    out = np.array(image, dtype=np.uint8, copy=True)
    for x, y, r, g, b in np.asarray(perturbation, dtype=np.int64):
        out[y, x] = (r, g, b)
    return out


def compress_trajectory(queries: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(m, 2) rows of a best-so-far curve: the first point, each point where the value changed, the last."""
    queries = np.asarray(queries, dtype=np.float64).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if queries.size == 0:
        return np.zeros((0, 2))
    keep = np.ones(queries.size, dtype=bool)
    keep[1:] = scores[1:] != scores[:-1]
    keep[-1] = True
    return np.stack([queries[keep], scores[keep]], axis=1)


def score_at(trajectory: np.ndarray | list, queries: float) -> float:
    """The best spoof confidence after `queries` queries (NaN before the first point)."""
    rows = np.asarray(trajectory, dtype=np.float64).reshape(-1, 2)
    at = np.searchsorted(rows[:, 0], queries, side="right") - 1
    return float(rows[at, 1]) if at >= 0 else float("nan")
