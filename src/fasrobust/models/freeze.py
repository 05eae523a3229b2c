"""Freeze policies: which leading modules of a model's `features` stack keep their weights during
training. The paper "froze the weights of the first seven layers"; that sentence has three readings
(TRAINING-AND-METRICS.md), each a named policy here, and the one used is recorded in model.json:

| policy            | frozen VGG16 conv layers          | `features` slice |
|-------------------|-----------------------------------|------------------|
| `lucena-3conv`    | conv1_1, conv1_2, conv2_1 (3)     | `[:7]`           |
| `keras-blocks12`  | blocks 1-2 (4)                    | `[:10]`          |
| `ftweights-7conv` | conv1_1 ... conv3_3 (7)           | `[:17]`          |
| `all-conv`        | all 13 (only the head trains)     | all              |
| `none`            | nothing                           | -                |

DEFAULT_FREEZE is `ftweights-7conv`: it freezes seven *convolutional* layers, which is how the paper
counts layers ("13 convolutional layers") and what Lucena's released fine-tuning weights do. Freezing
only makes sense on top of ImageNet weights: the trainer uses 'none' when it trains from scratch unless
a policy is asked for explicitly (random filters that never train would only hurt)."""

from __future__ import annotations

from torch import nn

from ..choices import FreezePolicy  # defined in a leaf so the CLI's --freeze needs no torch
from ..errors import ConfigError

__all__ = ["DEFAULT_FREEZE", "FreezePolicy", "apply_freeze", "frozen_prefix"]


DEFAULT_FREEZE = FreezePolicy.FTWEIGHTS_7CONV

#: How many leading modules of torchvision's `vgg16().features` each VGG-specific reading freezes.
_VGG16_SLICE = {
    FreezePolicy.LUCENA_3CONV: 7,
    FreezePolicy.KERAS_BLOCKS12: 10,
    FreezePolicy.FTWEIGHTS_7CONV: 17,
}


def frozen_prefix(policy: FreezePolicy, features: nn.Sequential, *, vgg16: bool) -> int:
    """Number of leading `features` modules the policy freezes for this stack."""
    if policy is FreezePolicy.NONE:
        return 0
    if policy is FreezePolicy.ALL_CONV:
        return len(features)
    if not vgg16:
        raise ConfigError(f"freeze policy '{policy}' counts VGG16 layers; this model takes 'none' or 'all-conv'")
    return _VGG16_SLICE[policy]


def apply_freeze(features: nn.Sequential, policy: FreezePolicy, *, vgg16: bool) -> int:
    """Set requires_grad on `features`: False for the frozen prefix, True after it. Returns the prefix."""
    prefix = frozen_prefix(policy, features, vgg16=vgg16)
    for index, module in enumerate(features):
        for parameter in module.parameters():
            parameter.requires_grad_(index >= prefix)
    return prefix
