"""Impulse-noise family of the augmentations, a training-time defence (issue 13, 2a): k random pixels of
each image set to random 8-bit colours, k drawn per image uniformly in 1..max_pixels. max_pixels defaults
to 9, the paper's largest attack budget, so the model sees during training the kind of sparse change a
few-pixel attack makes.

Sits in training, last: ... -> affine -> channel shift -> flips -> *impulse* -> normalisation -> model.
Positions are distinct within an image. Every image draws the same amount of randomness whatever its k,
so one image's draw never shifts another's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ...errors import ConfigError

#: The colours an attack can write: 8-bit values 0..255 per channel.
COLOUR_LEVELS = 256


@dataclass(frozen=True)
class ImpulseParams:
    positions: torch.Tensor  # (N, P) long, flat index row * W + col, distinct within a row
    colours: torch.Tensor  # (N, P, 3) float, integers 0..255
    active: torch.Tensor  # (N, P) bool: the first k of the P slots

    def to(self, device: torch.device) -> ImpulseParams:
        return ImpulseParams(self.positions.to(device), self.colours.to(device), self.active.to(device))


@dataclass(frozen=True)
class ImpulseAugment:
    max_pixels: int = 9
    name: ClassVar[str] = "impulse"

    def sample_params(self, n: int, generator: torch.Generator, height: int, width: int) -> ImpulseParams:
        if self.max_pixels > height * width:
            raise ConfigError(f"impulse_pixels: {self.max_pixels} pixels do not fit a {height}x{width} image")
        device = generator.device
        counts = torch.randint(1, self.max_pixels + 1, (n, 1), generator=generator, device=device)
        # The first P of a random permutation per image: P distinct positions without a loop.
        order = torch.rand(n, height * width, generator=generator, device=device).argsort(dim=1)
        colours = torch.randint(0, COLOUR_LEVELS, (n, self.max_pixels, 3), generator=generator, device=device)
        slots = torch.arange(self.max_pixels, device=device).unsqueeze(0)
        return ImpulseParams(order[:, :self.max_pixels], colours.to(torch.get_default_dtype()), slots < counts)

    def apply(self, batch: torch.Tensor, params: ImpulseParams) -> torch.Tensor:
        n, channels, height, width = batch.shape
        flat = batch.reshape(n, channels, height * width)
        index = params.positions.unsqueeze(1).expand(n, channels, -1)
        values = torch.where(params.active.unsqueeze(1), params.colours.permute(0, 2, 1).to(batch.dtype),
                             flat.gather(2, index))
        return flat.scatter(2, index, values).reshape(n, channels, height, width)
