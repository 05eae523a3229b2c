"""The two classes of presentation attack detection. Never bare 0/1: scores are P(live)
(bona fide is the positive class, the bob convention), and the attack's fitness on a spoof
image is its spoof confidence, 1 - P(live)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


class Label(StrEnum):
    LIVE = "live"
    SPOOF = "spoof"

    @classmethod
    def parse(cls, value: str) -> Label:
        """Accept the spellings databases use ('real', 'genuine', 'attack', 'fake', ...)."""
        key = str(value).strip().lower()
        if key in _ALIASES:
            return _ALIASES[key]
        raise ValueError(f"unknown label {value!r} (expected one of: {', '.join(sorted(_ALIASES))})")


_ALIASES = {
    **{k: Label.LIVE for k in ("live", "real", "genuine", "bona_fide", "bonafide", "bona-fide", "1")},
    **{k: Label.SPOOF for k in ("spoof", "attack", "fake", "presentation_attack", "0")},
}

#: Attack type recorded for bona fide samples.
BONA_FIDE = "bona_fide"

#: The decision rule everywhere (attacks, verification, metrics, report): a face is called live iff
#: P(live) >= threshold, bob's rule, so a score equal to the threshold is accepted. 0.5 is the paper's
#: threshold; a target may state another one, and it is recorded with every result.
LIVE_THRESHOLD = 0.5


def is_live(labels) -> np.ndarray:
    """Boolean array, True where the label is LIVE. Accepts Labels or their string values."""
    import numpy as np  # here: the CLI imports this leaf (through the readers) and must start fast

    return np.array([Label(x) is Label.LIVE for x in labels], dtype=bool)
