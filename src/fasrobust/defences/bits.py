"""Bit-depth reduction (defence stage), the first squeezer of feature squeezing (Xu, Evans and Qi, NDSS
2018): each 8-bit value is rounded to the nearest of 2^bits evenly spaced levels of 0..255, so a small
colour change is rounded away and only a large one survives. 8 bits is exactly the identity."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from .base import Transform, register_defence
from .settings_model import DefenceSettings, Whole

if TYPE_CHECKING:
    import torch


class BitsSettings(DefenceSettings):
    positional = "bits"

    bits: Annotated[Whole, Field(ge=1, le=8, description="bits per channel kept (8: unchanged)")] = 4


def reduce_bits(images: torch.Tensor, bits: int) -> torch.Tensor:
    """round(x / 255 * (2^b - 1)) / (2^b - 1) * 255, rounded back to uint8."""
    import torch

    levels = 2 ** bits - 1
    # float64: at 8 bits, x / 255 * 255 must come back to exactly x after rounding.
    x = images.to(torch.float64)
    return (torch.round(x / 255.0 * levels) / levels * 255.0).round().clamp(0, 255).to(torch.uint8)


@register_defence("bits", description="bit-depth reduction, feature squeezing (Xu et al., NDSS 2018)",
                  smoke={"bits": 4})
class BitDepth(Transform):
    Settings = BitsSettings

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        return reduce_bits(images, self.config.bits)
