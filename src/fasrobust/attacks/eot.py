"""Expectation over transformation (attack stage; Athalye, Engstrom, Ilyas and Kwok, ICML 2018), as an
option of every attack (`eot`, AutoAttack's `eot_iter`), not a defence: a defence stack is only what a
user deploys. With `eot: K` the attack sees each candidate's score averaged over K answers of the
pipeline, so on a randomized defence (randomized smoothing) it follows the expected score rather than one
noise draw; every success is still re-verified on one real answer of the deployed pipeline.

Left unset, `eot` is chosen from the pipeline: `AUTO_DRAWS` when it declares itself randomized, else 1
(averaging a deterministic answer only spends queries). The draws used are recorded in the settings.

Counting: a query is one candidate the attack asked about; `model_queries` counts the model's own
evaluations (K per query here, times whatever the defences multiply)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..targets.base import Target

if TYPE_CHECKING:
    import torch

#: Draws averaged per query on a pipeline that declares itself randomized, when the attack does not say.
AUTO_DRAWS = 8


def chosen_draws(eot: int | None, *, randomized: bool) -> int:
    """The draws an attack averages: as set, else `AUTO_DRAWS` on a randomized pipeline, else 1."""
    if eot is not None:
        return int(eot)
    return AUTO_DRAWS if randomized else 1


class AveragedTarget(Target):
    """The attacker's view of `inner`: each image is scored `draws` times and the mean answered. Its
    `deployed` is the pipeline itself, which re-verification queries."""

    def __init__(self, inner: Target, draws: int):
        if draws < 2:
            raise ValueError(f"averaging needs at least 2 draws, got {draws}")
        self.inner, self.draws = inner, int(draws)
        super().__init__(max_batch=max(1, inner.max_batch // self.draws), device=inner.device,
                         input_size=inner.input_size, threshold=inner.threshold,
                         name=f"{inner.name} [eot {self.draws}]")

    @property
    def model_calls_per_query(self) -> int:  # type: ignore[override]
        return self.draws * self.inner.model_calls_per_query

    @property
    def model_queries(self) -> int:
        return self.inner.model_queries

    @property
    def deployed(self) -> Target:
        return self.inner.deployed

    @property
    def answers_decisions(self) -> bool:
        return self.inner.answers_decisions

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        p_live = self.inner(images.repeat(self.draws, 1, 1, 1)).double().view(self.draws, len(images))
        return p_live.mean(dim=0)

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "eot_draws": self.draws}


def attacker_view(target: Target, draws: int) -> Target:
    """What an attack with `draws` queries: the target itself for one draw, else its averaged view."""
    return target if draws <= 1 else AveragedTarget(target, draws)
