"""DE hyperparameters (attack stage, engines): the strategy enum and the plain values the batched engine in
`de.py` runs with. They are validated once, by the settings model that builds them (`pixel.PixelSettings`:
a bad value is a one-line error there, naming the attack and the field); the engine takes them as given."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ...errors import AttackError


class Strategy(StrEnum):
    RAND1 = "rand1"
    BEST1 = "best1"

    @classmethod
    def parse(cls, value: str | Strategy) -> Strategy:
        try:
            return cls(str(value).lower().removesuffix("bin"))
        except ValueError:
            raise AttackError(f"unknown DE strategy {value!r} (rand1 or best1)") from None

    @property
    def minimum_population(self) -> int:
        """Distinct members a mutation draws, plus the target vector: rand/1 needs 4, best/1 needs 3."""
        return 4 if self is Strategy.RAND1 else 3


@dataclass(frozen=True)
class DEConfig:
    """DE hyperparameters. `f` is a float, or a (low, high) pair to dither F per generation."""

    population: int = 400
    iterations: int = 200
    f: float | tuple[float, float] = 0.5
    cr: float = 1.0
    strategy: Strategy = Strategy.RAND1

    def __post_init__(self) -> None:
        object.__setattr__(self, "strategy", Strategy.parse(self.strategy))  # "rand1" and "rand1bin" alike

    @property
    def f_range(self) -> tuple[float, float]:
        if isinstance(self.f, tuple | list):
            return float(self.f[0]), float(self.f[1])
        return float(self.f), float(self.f)
