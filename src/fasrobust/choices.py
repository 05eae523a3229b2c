"""Closed sets that settings files and command-line options name (training's optimizer, device, mixed
precision, preprocessing, and the models' freeze policies).

A leaf that imports nothing heavy, so the CLI builds its options from these Enums without importing
torch (`fasrobust --help`, and every `prepare --workers` process, which re-imports the CLI). The
modules that act on a choice re-export it: `models.freeze.FreezePolicy` (where the policies are
explained and applied) and `training.train_settings.OptimizerName`, `DeviceChoice`, ...
"""

from __future__ import annotations

from enum import StrEnum

from .errors import ConfigError


class FreezePolicy(StrEnum):
    """Which leading conv layers keep their weights during training; the table is in `models.freeze`."""

    NONE = "none"
    LUCENA_3CONV = "lucena-3conv"
    KERAS_BLOCKS12 = "keras-blocks12"
    FTWEIGHTS_7CONV = "ftweights-7conv"
    ALL_CONV = "all-conv"

    @classmethod
    def parse(cls, value: str | FreezePolicy) -> FreezePolicy:
        try:
            return cls(value)
        except ValueError:
            raise ConfigError(f"unknown freeze policy {value!r} (known: {', '.join(p.value for p in cls)})") \
                from None


class OptimizerName(StrEnum):
    #: Adam at 1e-4 when training from scratch (the paper's SGD at 1e-3 barely moves a randomly initialised
    #: FASNet in hundreds of steps); the paper's SGD on ImageNet weights. The trainer records which it chose.
    AUTO = "auto"
    SGD = "sgd"  # the paper's: lr 1e-3, momentum 0.9 (Table 2)
    ADAM = "adam"  # Lucena et al.'s public code: lr 1e-4


class DeviceChoice(StrEnum):
    AUTO = "auto"  # CUDA when present, else CPU
    CPU = "cpu"
    CUDA = "cuda"


class AmpChoice(StrEnum):
    AUTO = "auto"  # bf16 (fp16 on GPUs without bf16) autocast on CUDA, full precision on CPU
    OFF = "off"
    BF16 = "bf16"
    FP16 = "fp16"


class PreprocessingChoice(StrEnum):
    AUTO = "auto"  # 'imagenet' with ImageNet weights, else 'lucena'
    LUCENA = "lucena"
    IMAGENET = "imagenet"
