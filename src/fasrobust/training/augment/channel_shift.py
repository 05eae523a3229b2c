"""Channel-shift family of the augmentations: one intensity per image, added to every channel, clipped to
that image's own min and max (Keras `channel_shift_range`). Applied after the affine transform and
before the flips, on float 0..255 values, as Keras does before `rescale` (keras-preprocessing 1.1.2 and
Keras 3 alike)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch


@dataclass(frozen=True)
class ChannelShiftParams:
    intensity: torch.Tensor  # (N,), in 0..255 units

    def to(self, device: torch.device) -> ChannelShiftParams:
        return ChannelShiftParams(self.intensity.to(device))


@dataclass(frozen=True)
class ChannelShiftAugment:
    """intensity ~ U(-intensity_range, intensity_range) per image."""

    intensity_range: float
    name: ClassVar[str] = "channel_shift"

    def sample_params(self, n: int, generator: torch.Generator, height: int, width: int) -> ChannelShiftParams:
        u = torch.rand(n, generator=generator, device=generator.device)
        return ChannelShiftParams(self.intensity_range * (2.0 * u - 1.0))

    def apply(self, batch: torch.Tensor, params: ChannelShiftParams) -> torch.Tensor:
        # Keras clips to the min/max over all channels of the image *before* the shift, so a shift can
        # never create values the image did not already span.
        low = batch.amin(dim=(1, 2, 3), keepdim=True)
        high = batch.amax(dim=(1, 2, 3), keepdim=True)
        shifted = batch + params.intensity.to(batch.dtype).view(-1, 1, 1, 1)
        return torch.minimum(torch.maximum(shifted, low), high)
