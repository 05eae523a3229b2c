"""The one decision rule of the attack stage: a face is called live iff P(live) >= threshold.

The threshold is the target's (`Target.threshold`, 0.5 unless the model's owner states another), so the
attack's stopping rule, the PNG re-check, the stored result and the report all use the same number, and
every result records it. Attacks minimise the spoof confidence 1 - P(live); success is reaching
`1 - threshold` or below."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import AttackError
from ..labels import LIVE_THRESHOLD


@dataclass(frozen=True)
class Criterion:
    threshold: float = LIVE_THRESHOLD

    def __post_init__(self) -> None:
        if not 0.0 < float(self.threshold) <= 1.0:
            raise AttackError(f"the live threshold must lie in (0, 1], got {self.threshold}")

    @classmethod
    def of(cls, target: object) -> Criterion:
        """The target's own rule (its `threshold` attribute), the paper's 0.5 for a target without one."""
        return cls(float(getattr(target, "threshold", LIVE_THRESHOLD)))

    def is_live(self, p_live: float | np.ndarray) -> bool | np.ndarray:
        result = np.asarray(p_live, dtype=np.float64) >= self.threshold
        return bool(result) if result.ndim == 0 else result

    @property
    def success_score(self) -> float:
        """The spoof confidence (1 - P(live)) at or below which a search has succeeded."""
        return 1.0 - self.threshold
