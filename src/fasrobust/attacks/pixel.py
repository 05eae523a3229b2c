"""The paper's few-pixel attack (Sections 3.2-3.3): change d pixels of a spoof face so the target
calls it live, searched by the batched DE of `de.py` over d tuples (x, y, r, g, b).

Rules, with the paper's defaults:
- fitness = spoof confidence 1 - P(live); success iff the target's criterion calls it live
  (P(live) >= threshold, 0.5 by default: bob's rule, a score equal to the threshold is accepted);
- population 400 is the TOTAL number of candidates per image (Su et al.), not scipy's multiplier;
- CR defaults to 1 (the mutant is taken whole): Su et al.'s one-pixel attack uses no crossover and
  the Keras implementation the paper builds on uses CR = 1, so results stay comparable to theirs;
- candidates are integer pixels and 8-bit colours (see `canvas.decode`), so every adversarial image
  is a real 8-bit image;
- queries, counted exactly per image: 1 (the clean image, telling whether it is already live)
  + population (the start) + population per generation run. An image stops the moment one of its
  candidates is called live, so nothing is spent on a separate stopping check. The whole generation
  in which it succeeded is counted: the target scored all of it;
- every success is re-verified through a PNG round trip (`Attack.run`, `verify.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import numpy as np
from pydantic import Field, field_validator, model_validator

from ..errors import AttackError
from ..paper import PAPER_ATTACK, PAPER_ITERATIONS, PAPER_POPULATION, paper_queries
from .base import Attack, Found, FoundCallback, register_attack
from .criterion import Criterion
from .engines.counter_layout import MAX_GENERATION
from .engines.de_config import DEConfig, Strategy
from .settings_model import AttackSettings, Whole, pixel_count

if TYPE_CHECKING:  # the engine is imported where the attack runs (see base.py)
    import torch

    from ..targets.base import Target

#: The paper attacks 1 to 9 pixels; more is allowed but this caps silly values.
MAX_PIXELS = 1024


class PixelSettings(AttackSettings):
    """The DE few-pixel attack's settings; the budget is `iterations` generations of `population`."""

    budget_field = "iterations"
    smallest_budget = 0  # the start population alone

    pixels: int | str = Field(9, description="pixels changed per image (the paper: 1-9), or auto: each image's "
                              "smallest count, searched within the budget")

    _pixels = field_validator("pixels", mode="before")(lambda value: pixel_count(value, MAX_PIXELS))
    population: Annotated[Whole, Field(ge=3, description="candidates per image, in total (not a multiplier)")] = \
        PAPER_POPULATION
    iterations: Annotated[Whole, Field(ge=1, le=MAX_GENERATION, description="DE generations before giving up "
                                     "(the paper: 200)")] = PAPER_ITERATIONS
    f: float | tuple[float, float] = Field(0.5, description="DE scale F, or 'low,high' to dither it per "
                                           "generation")
    cr: Annotated[float, Field(ge=0.0, le=1.0, description="crossover probability (1: the mutant whole, as "
                               "Su et al.)")] = 1.0
    strategy: Strategy = Field(Strategy.RAND1, description="DE strategy: rand1 (the paper) or best1")

    @field_validator("f", mode="before")
    @classmethod
    def _scale(cls, value):
        if isinstance(value, str):
            parts = [p for p in value.split(",") if p.strip()]
            value = float(parts[0]) if len(parts) == 1 else tuple(float(p) for p in parts)
        if isinstance(value, list | tuple):
            if len(value) != 2 or not 0.0 < value[0] < value[1] <= 2.0:
                raise ValueError(f"a dithered F needs 'low,high' with 0 < low < high <= 2, got {value!r}")
            return tuple(float(v) for v in value)
        if not 0.0 < float(value) <= 2.0:
            raise ValueError(f"F must lie in (0, 2], got {value!r}")
        return float(value)

    @field_validator("strategy", mode="before")
    @classmethod
    def _strategy(cls, value):
        try:
            return Strategy.parse(value)
        except AttackError as exc:  # pydantic reports ValueErrors with the field's name
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _population_for_strategy(self):
        need = self.strategy.minimum_population
        if self.population < need:
            raise ValueError(f"population must be >= {need} for {self.strategy.value}, got {self.population}")
        return self

    def query_budget(self) -> int:
        return self.queries_at(self.iterations)

    def queries_at(self, budget: int) -> int:
        # Generation 0 is the start population: a budget of 0 iterations still scores it.
        return paper_queries(int(budget), self.population)

    def de_config(self) -> DEConfig:
        return DEConfig(population=self.population, iterations=self.iterations, f=self.f, cr=self.cr,
                        strategy=self.strategy)


@register_attack(PAPER_ATTACK, description="the paper's black-box differential-evolution few-pixel attack",
                 smoke={"pixels": 2, "population": 12, "iterations": 12})
class PixelAttack(Attack):
    """Few-pixel DE attack. `max_active` caps how many images are attacked side by side (default: as
    many as fit the canvas memory); it changes the speed, never the results."""

    Settings = PixelSettings

    def _search(self, target: Target, originals: torch.Tensor, *, keys: torch.Tensor, p_before: np.ndarray,
                criterion: Criterion, on_found: FoundCallback) -> None:
        import torch

        from .engines.canvas import Canvas, decode
        from .engines.de import BatchedDE, DEOutcome, Step

        n, h, w, _ = originals.shape
        config = self.config.de_config()
        canvas = Canvas(originals, capacity=self.capacity(n, config.population * h * w * 3, target.device), population=config.population)

        def objective(step: Step) -> torch.Tensor:  # noqa: F821 (imported above, at run time)
            if step.fresh.any():
                canvas.load(step.slots[step.fresh], step.problems[step.fresh])
            batch = canvas.paint(step.slots, decode(step.candidates, h, w), dense=step.dense)
            try:
                p_live = target(batch)
            finally:
                canvas.restore()
            return 1.0 - p_live.double().view(len(step.slots), -1)

        def finish(outcome: DEOutcome) -> None:  # noqa: F821
            generations = np.arange(len(outcome.history))
            on_found(Found(problem=outcome.problem,
                           perturbation=decode(torch.from_numpy(outcome.x), h, w).numpy().reshape(-1, 5),
                           p_live=1.0 - outcome.fitness, queries=outcome.evaluations,
                           trajectory=np.stack([config.population * (generations + 1), outcome.history], axis=1),
                           wall_time_s=outcome.wall_time_s, extra={"generations": outcome.generations}))

        # float32 populations: a coordinate is decoded into at most a few hundred bins.
        engine = BatchedDE(config, dim=5 * self.config.pixels, device=target.device, dtype=torch.float32)
        engine.minimize(objective, keys, stop_at=criterion.success_score, capacity=canvas.buffer.shape[0],
                        on_done=finish)
