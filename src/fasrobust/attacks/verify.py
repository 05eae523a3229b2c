"""Re-verification of reported successes (attack stage): an adversarial image only counts if it still
fools the target after being saved as an 8-bit PNG and read back, i.e. as the file a person would
hand over. The check query is NOT one of the attack's queries (the paper's query counts are the
search's); it is recorded separately in `AttackResult.extra["verification_queries"]`."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..provenance import write_bytes_atomic
from .criterion import Criterion

if TYPE_CHECKING:
    from ..targets.base import Target
#: A re-check that differs from the attack's own score by more than this is noted (a target whose answer
#: depends on more than the image: batch composition, randomness, a changed model).
SCORE_TOLERANCE = 1e-3


def encode_png(image: np.ndarray) -> bytes:
    """Lossless PNG of an (H, W, 3) uint8 RGB image; the same image always gives the same bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), mode="RGB").save(
        buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def write_png(path: str | Path, image: np.ndarray) -> bytes:
    """Write atomically; returns the bytes written."""
    data = encode_png(image)
    write_bytes_atomic(path, data)
    return data


@dataclass(frozen=True)
class Verification:
    verified: bool
    p_live: float  # the target's answer for the image read back from PNG
    note: str = ""


def verify_adversarial(target: Target, adversarial: np.ndarray, p_live_attack: float,
                       criterion: Criterion | None = None) -> Verification:
    """PNG round trip of one adversarial image, then one query. Verified iff still called live by the
    same criterion the attack used (the target's own threshold by default)."""
    criterion = criterion or Criterion.of(target)
    restored = decode_png(encode_png(adversarial))
    if not np.array_equal(restored, adversarial):
        return Verification(False, float("nan"), "PNG round trip changed the pixels")
    p_live = float(target(restored[None])[0])
    if not criterion.is_live(p_live):
        return Verification(False, p_live, f"not live on re-check from PNG: P(live) {p_live:.4f} "
                                           f"(the attack saw {p_live_attack:.4f})")
    if abs(p_live - p_live_attack) > SCORE_TOLERANCE:
        return Verification(True, p_live, f"re-check from PNG gave P(live) {p_live:.4f}, "
                                          f"the attack saw {p_live_attack:.4f}")
    return Verification(True, p_live)
