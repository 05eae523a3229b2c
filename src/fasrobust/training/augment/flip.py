"""Flip family of the augmentations: horizontal and vertical flips, each with probability 0.5 per image
(Keras `horizontal_flip` / `vertical_flip`), the last of Keras' steps (only impulse noise comes after).
Flips move pixels, never change them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

#: Keras flips each image with probability one half.
FLIP_PROBABILITY = 0.5


@dataclass(frozen=True)
class FlipParams:
    horizontal: torch.Tensor  # (N,) bool: mirror left-right
    vertical: torch.Tensor  # (N,) bool: mirror top-bottom

    def to(self, device: torch.device) -> FlipParams:
        return FlipParams(self.horizontal.to(device), self.vertical.to(device))


@dataclass(frozen=True)
class FlipAugment:
    horizontal: bool = True
    vertical: bool = True
    name: ClassVar[str] = "flip"

    def sample_params(self, n: int, generator: torch.Generator, height: int, width: int) -> FlipParams:
        return FlipParams(self._draw(n, generator, self.horizontal), self._draw(n, generator, self.vertical))

    @staticmethod
    def _draw(n: int, generator: torch.Generator, enabled: bool) -> torch.Tensor:
        if not enabled:
            return torch.zeros(n, dtype=torch.bool, device=generator.device)
        return torch.rand(n, generator=generator, device=generator.device) < FLIP_PROBABILITY

    def apply(self, batch: torch.Tensor, params: FlipParams) -> torch.Tensor:
        batch = torch.where(params.horizontal.view(-1, 1, 1, 1), batch.flip(-1), batch)
        return torch.where(params.vertical.view(-1, 1, 1, 1), batch.flip(-2), batch)
