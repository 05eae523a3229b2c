"""Randomized smoothing (defence stage; Cohen, Rosenfeld and Kolter, ICML 2019, on the 8-bit image):
each image asked about becomes n copies with Gaussian noise of standard deviation sigma (in 0..255 pixel
units), clipped and rounded back to 8 bits, and the wrapped target scores all of them in one batch.

- vote "mean": the answer is the copies' mean P(live), compared with the wrapped target's threshold;
- vote "majority": the answer is the fraction of copies the wrapped target calls live (P >= its
  threshold); the defended target's threshold is 0.5, so a face is called live iff at least half of
  its copies are.

One query of the defended system is n queries of the model; both are counted (`DefendedTarget`).
The noise comes from a generator seeded once from `seed` and advanced by every call, so each query draws
fresh noise (that is what makes it randomized) and a run is still reproducible from its seed. It is
drawn on the CPU and moved to the model's device, so the same seed gives the same noise on any device.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from .base import Defence, register_defence
from .settings_model import DefenceSettings, Whole

if TYPE_CHECKING:
    import torch

    from ..targets.base import Target

#: The threshold of a majority vote: the fraction of copies called live.
MAJORITY = 0.5


class Vote(StrEnum):
    MEAN = "mean"
    MAJORITY = "majority"


class SmoothSettings(DefenceSettings):
    positional = "sigma"
    randomized = True

    sigma: Annotated[float, Field(gt=0.0, le=128.0, description="noise standard deviation, in 0..255 "
                                  "pixel units")] = 8.0
    n: Annotated[Whole, Field(ge=1, le=256, description="noisy copies per image (model queries per "
                              "query)")] = 16
    vote: Vote = Field(Vote.MEAN, description="mean: mean P(live); majority: fraction of copies called live")
    seed: Annotated[Whole, Field(ge=0, description="seed of the noise generator")] = 0


@register_defence("smooth", description="randomized smoothing: the mean or majority over n Gaussian-noised copies",
                  smoke={"sigma": 8.0, "n": 2, "seed": 0})
class RandomizedSmoothing(Defence):
    Settings = SmoothSettings

    def __init__(self, settings: SmoothSettings | None = None, /, **fields: Any):
        import torch

        super().__init__(settings, **fields)
        self.generator = torch.Generator().manual_seed(self.config.seed)

    @property
    def calls_per_query(self) -> int:
        return self.config.n

    def threshold(self, inner_threshold: float) -> float:
        return MAJORITY if self.config.vote is Vote.MAJORITY else inner_threshold

    def score(self, inner: Target, images: torch.Tensor) -> torch.Tensor:
        import torch

        copies = self.config.n
        noise = torch.randn((copies, *images.shape), generator=self.generator) * self.config.sigma
        noisy = (images.float()[None] + noise.to(images.device)).round().clamp(0, 255).to(torch.uint8)
        p_live = inner(noisy.reshape(-1, *images.shape[1:])).double().view(copies, len(images))
        if self.config.vote is Vote.MAJORITY:
            return (p_live >= inner.threshold).double().mean(dim=0)
        return p_live.mean(dim=0)
