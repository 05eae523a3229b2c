"""DE hyperparameters (attack stage): the strategy enum and the validated settings the batched engine in
`de.py` runs with. Bad values are one-line AttackErrors, raised when the settings are built."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..errors import AttackError
from .counter_layout import MAX_GENERATION


class Strategy(StrEnum):
    RAND1 = "rand1"
    BEST1 = "best1"

    @classmethod
    def parse(cls, value: str | Strategy) -> Strategy:
        try:
            return cls(str(value).lower().removesuffix("bin"))
        except ValueError:
            raise AttackError(f"unknown DE strategy {value!r} (rand1 or best1)") from None


@dataclass(frozen=True)
class DEConfig:
    """DE hyperparameters. `f` is a float, or a (low, high) pair to dither F per generation."""

    population: int = 400
    iterations: int = 200
    f: float | tuple[float, float] = 0.5
    cr: float = 1.0
    strategy: Strategy = Strategy.RAND1

    def __post_init__(self) -> None:
        object.__setattr__(self, "strategy", Strategy.parse(self.strategy))
        need = 4 if self.strategy is Strategy.RAND1 else 3
        if int(self.population) != self.population or self.population < need:
            raise AttackError(f"population must be an integer >= {need} for {self.strategy.value}, "
                              f"got {self.population}")
        if int(self.iterations) != self.iterations or not 1 <= self.iterations <= MAX_GENERATION:
            raise AttackError(f"iterations must be an integer >= 1, got {self.iterations}")
        low, high = self.f_range
        if not (0.0 < low <= high <= 2.0):
            raise AttackError(f"F must lie in (0, 2] (a dither range as low < high), got {self.f}")
        if not 0.0 <= self.cr <= 1.0:
            raise AttackError(f"CR must lie in [0, 1], got {self.cr}")

    @property
    def f_range(self) -> tuple[float, float]:
        if isinstance(self.f, tuple | list):
            if len(self.f) != 2 or self.f[0] >= self.f[1]:
                raise AttackError(f"a dithered F needs (low, high) with low < high, got {self.f}")
            return float(self.f[0]), float(self.f[1])
        return float(self.f), float(self.f)
