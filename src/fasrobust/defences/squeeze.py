"""The feature-squeezing detector (defence stage; Xu, Evans and Qi, NDSS 2018): score the raw image and
each squeezed version of it; if the score moves by more than `threshold` between the raw image and any
squeezed one, the input is called an attack, so spoof (P(live) 0); otherwise the raw image's score
stands. An adversarial image tends to sit on a knife edge that squeezing tips over; a genuine face
keeps its score.

The squeezers are fixed, as Xu et al.'s for colour images: 4-bit depth and a median filter. They use a
2 x 2 median; an even window has no centre pixel (it shifts the image by half a pixel), so the 3 x 3
median of `median.py` stands in for it.

The raw and squeezed images go to the wrapped target in one batch of (1 + 2) n images."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from .base import Defence, register_defence
from .bits import reduce_bits
from .median import median_filter
from .settings_model import DefenceSettings

if TYPE_CHECKING:
    import torch

    from ..targets.base import Target

#: (bits kept, median window side) of the two squeezers.
SQUEEZE_BITS, SQUEEZE_MEDIAN = 4, 3
SQUEEZERS = 2


class SqueezeSettings(DefenceSettings):
    positional = "threshold"

    threshold: Annotated[float, Field(gt=0.0, le=1.0, description="largest change of P(live) under "
                                      "squeezing still called genuine; set it from the clean false-alarm "
                                      "rate")] = 0.1


@register_defence("squeeze", description="the feature-squeezing detector: spoof when P(live) moves under squeezing",
                  smoke={"threshold": 0.2})
class SqueezeDetector(Defence):
    Settings = SqueezeSettings

    @property
    def calls_per_query(self) -> int:
        return 1 + SQUEEZERS

    def score(self, inner: Target, images: torch.Tensor) -> torch.Tensor:
        import torch

        batch = torch.cat([images, reduce_bits(images, SQUEEZE_BITS), median_filter(images, SQUEEZE_MEDIAN)])
        p_live = inner(batch).double().view(1 + SQUEEZERS, len(images))
        moved = (p_live[1:] - p_live[0]).abs().amax(dim=0)
        return torch.where(moved > self.config.threshold, torch.zeros_like(p_live[0]), p_live[0])
