"""`tiny-cnn`: a few-thousand-parameter CNN with FASNet's I/O contract (normalised float (N, 3, S, S)
in, logit of live (N,) out), for tests, benchmarks and quick smoke runs on a CPU."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from .freeze import FreezePolicy, apply_freeze
from .registry import register_model


@register_model("tiny-cnn", description="a small CNN for tests and benchmarks (two conv layers, a few thousand weights)",
                smoke={"input_size": 16})
class TinyCNN(nn.Module):
    backbone = "tiny"

    def __init__(self, *, input_size: int = 32, freeze: str | FreezePolicy = FreezePolicy.NONE,
                 dropout: float = 0.0, hidden: int = 16, width: int = 8):
        super().__init__()
        if input_size < 4:
            raise ConfigError(f"tiny-cnn needs input_size >= 4, got {input_size}")
        self.input_size = int(input_size)
        self.freeze = FreezePolicy.parse(freeze)
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        # Global average pooling makes the head independent of the input size.
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(2 * width, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, 1),
        )
        apply_freeze(self.features, self.freeze, vgg16=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)
