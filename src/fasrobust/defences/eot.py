"""Expectation over transformation (defence stage; Athalye, Engstrom, Ilyas and Kwok, ICML 2018): the
ATTACKER's view of a randomized pipeline. Each query scores the image `draws` times through the wrapped
pipeline (fresh noise each time) and answers the mean, so the attack follows the defence's expected
score rather than one noise draw.

It is not part of what a user deploys: the defended target's `deployed` is the wrapped pipeline, and an
attack re-verifies every success there. It must wrap the whole stack, so it comes last in one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from .base import Defence, register_defence
from .settings_model import DefenceSettings, Whole

if TYPE_CHECKING:
    import torch

    from ..targets.base import Target


class EotSettings(DefenceSettings):
    positional = "draws"
    attacker_side = True

    draws: Annotated[Whole, Field(ge=1, le=64, description="draws of the pipeline averaged per query")] = 8


@register_defence("eot")
class ExpectationOverTransformation(Defence):
    Settings = EotSettings

    @property
    def calls_per_query(self) -> int:
        return self.config.draws

    def score(self, inner: Target, images: torch.Tensor) -> torch.Tensor:
        draws = self.config.draws
        p_live = inner(images.repeat(draws, 1, 1, 1)).double().view(draws, len(images))
        return p_live.mean(dim=0)
