"""FASNet (the paper's Section 3.1, after Lucena et al. 2017): VGG16's 13 conv layers, then
Flatten -> Linear(features, 256) -> ReLU -> Dropout(0.5) -> Linear(256, 1).

The forward pass returns the LOGIT of live, shape (N,); P(live) = sigmoid(logit). Input is float
(N, 3, S, S), already normalised (see preprocessing.py); S is a constructor argument (32 in the paper,
where the conv stack ends at 512x1x1; 64, 96, 224 give 512x2x2, 512x3x3, 512x7x7)."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from .freeze import DEFAULT_FREEZE, FreezePolicy, apply_freeze
from .registry import register_model
from .vgg import VGG16_OUT_CHANNELS, vgg16_features, vgg16_output_side


@register_model("fasnet", description="the paper's FASNet: VGG16's 13 conv layers + Dense(256)-Dropout-Dense(1)",
                smoke={"input_size": 32})
class FASNet(nn.Module):
    #: The backbone's name: ImageNet import and the VGG-specific freeze policies check it.
    backbone = "vgg16"

    def __init__(self, *, input_size: int = 32, freeze: str | FreezePolicy = DEFAULT_FREEZE,
                 dropout: float = 0.5, hidden: int = 256):
        super().__init__()
        side = vgg16_output_side(int(input_size))
        if side < 1:
            raise ConfigError(f"fasnet needs input_size >= 32 (five 2x2 pools), got {input_size}")
        if not 0.0 <= dropout < 1.0 or hidden < 1:
            raise ConfigError(f"fasnet needs 0 <= dropout < 1 and hidden >= 1, got {dropout}, {hidden}")
        self.input_size = int(input_size)
        self.freeze = FreezePolicy.parse(freeze)
        self.features = vgg16_features()
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(VGG16_OUT_CHANNELS * side * side, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )
        self._init_weights()
        apply_freeze(self.features, self.freeze, vgg16=True)

    def _init_weights(self) -> None:
        # He initialisation, as torchvision does for VGG: without batch norm, PyTorch's default conv init
        # shrinks activations layer by layer and a from-scratch 13-layer stack barely trains.
        for module in self.features:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)
