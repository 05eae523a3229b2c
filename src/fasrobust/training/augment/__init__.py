"""The paper's eight data-augmentation settings, with Keras ImageDataGenerator semantics, batched on the
model's device.

Sits in training, between the FaceSet batch and the model: uint8 crops -> float (N, 3, H, W) in 0..255
on the device -> `augmenter(batch, generator)` -> normalisation -> model. Every parameter is drawn
independently per image from the caller's `torch.Generator` (so a seed fixes the whole stream), in Keras'
order: affine transform (affine.py), channel shift (channel_shift.py), flips (flip.py).

Default ranges are Lucena et al.'s (the FASNet code the paper builds on): rotation 40 degrees, width and
height shift 0.2, shear 0.2, zoom 0.2, both flips, nearest fill. Two values need a decision:
- shear 0.2 is read in *radians* (about 11.5 degrees). Lucena's code is Keras 1, where `shear_range` is
  radians; Keras 2 reads the same number as degrees, and 0.2 degrees would move a 32-pixel crop's edge by
  0.06 pixels, i.e. no augmentation at all. `shear_unit='degrees'` reproduces a Keras 2 run.
- channel shift: Lucena's code sets none and the paper gives no value. We use 51.0 (0-255 units), i.e.
  0.2 of the 8-bit range, the same 0.2 magnitude as Lucena's other ranges. It is recorded with every
  model, and any value can be passed (`channel_shift=...`).
"""

from __future__ import annotations

import dataclasses
import math
from enum import StrEnum
from typing import Any, Protocol

import torch
from pydantic import Field

from ...errors import ConfigError
from ...settings import Settings
from .affine import AffineAugment, AffineParams, FillMode
from .channel_shift import ChannelShiftAugment, ChannelShiftParams
from .flip import FlipAugment, FlipParams

__all__ = [
    "AffineParams", "AngleUnit", "AugmentRanges", "AugmentSetting", "Augmenter", "ChannelShiftParams",
    "FillMode", "FlipParams", "build_augmenter",
]


class AugmentSetting(StrEnum):
    """The paper's eight settings (Section 4): none, each family alone, and all of them together."""

    NONE = "none"
    SHIFT = "shift"
    SHEAR = "shear"
    ZOOM = "zoom"
    ROTATION = "rotation"
    CHANNEL_SHIFT = "channel_shift"
    FLIP = "flip"
    ALL = "all"

    @classmethod
    def parse(cls, value: str | AugmentSetting) -> AugmentSetting:
        key = str(value).strip().lower().replace("-", "_")
        try:
            return cls(key)
        except ValueError:
            raise ConfigError(f"unknown augmentation {value!r} (expected one of: "
                              f"{', '.join(s.value for s in cls)})") from None


class AngleUnit(StrEnum):
    DEGREES = "degrees"
    RADIANS = "radians"

    def to_radians(self, value: float) -> float:
        return math.radians(value) if self is AngleUnit.DEGREES else value


class AugmentRanges(Settings):
    """How far each family may go. Which families are active is the setting's choice; these are only
    their magnitudes (a 'shift' augmenter ignores `rotation`)."""

    rotation: float = Field(40.0, ge=0, le=180, description="max rotation, degrees (as Keras)")
    width_shift: float = Field(0.2, ge=0, description="fraction of the width if < 1, else pixels")
    height_shift: float = Field(0.2, ge=0, description="fraction of the height if < 1, else pixels")
    shear: float = Field(0.2, ge=0, description="max shear angle, in `shear_unit`")
    shear_unit: AngleUnit = AngleUnit.RADIANS
    zoom: float = Field(0.2, ge=0, lt=1, description="zoom factors per axis from U(1 - zoom, 1 + zoom)")
    channel_shift: float = Field(51.0, ge=0, le=255, description="max intensity added, 0-255 units")
    horizontal_flip: bool = True
    vertical_flip: bool = True
    fill_mode: FillMode = FillMode.NEAREST


class Stage(Protocol):
    """One augmentation family: draws its per-image parameters, then applies them to a batch."""

    name: str

    def sample_params(self, n: int, generator: torch.Generator, height: int, width: int) -> Any: ...

    def apply(self, batch: torch.Tensor, params: Any) -> torch.Tensor: ...


class Augmenter:
    """`augmenter(batch, generator) -> batch`: float (N, 3, H, W) in 0..255 on any device, the generator on
    the same device. No loop over images; no state kept between calls. For tests and inspection,
    `sample_params` draws what a call would draw and `apply` applies given parameters."""

    def __init__(self, setting: AugmentSetting, ranges: AugmentRanges, stages: tuple[Stage, ...]):
        self.setting = setting
        self.ranges = ranges
        self.stages = stages

    def sample_params(self, n: int, generator: torch.Generator, *, size: tuple[int, int]) -> dict[str, Any]:
        """{stage name: its parameters for n images of (height, width) `size`}, drawn in stage order."""
        return {stage.name: stage.sample_params(n, generator, *size) for stage in self.stages}

    def apply(self, batch: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        for stage in self.stages:
            batch = stage.apply(batch, params[stage.name].to(batch.device))
        return batch

    def __call__(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if batch.ndim != 4 or batch.shape[1] != 3 or not batch.is_floating_point():
            raise ValueError(f"augmenter needs a float (N, 3, H, W) batch, got {batch.dtype} {tuple(batch.shape)}")
        if not self.stages:
            return batch
        params = self.sample_params(batch.shape[0], generator, size=(batch.shape[2], batch.shape[3]))
        return self.apply(batch, params)

    def describe(self) -> dict[str, Any]:
        """What model.json records: the setting and the ranges its families used."""
        return {"setting": self.setting.value, "ranges": self.ranges.model_dump(mode="json"),
                "stages": [{"name": stage.name, **dataclasses.asdict(stage)} for stage in self.stages]}

    def __repr__(self) -> str:
        return f"Augmenter({self.setting.value!r}, stages={list(self.stages)})"


def build_augmenter(setting: AugmentSetting | str, ranges: AugmentRanges | None = None,
                    **overrides: Any) -> Augmenter:
    """The augmenter for one of the eight settings. Ranges default to Lucena's; keyword overrides
    (`rotation=20`, `channel_shift=30`, ...) are validated, and a bad one is a one-line ConfigError."""
    setting = AugmentSetting.parse(setting)
    base = (ranges or AugmentRanges()).model_dump()
    ranges = AugmentRanges.build({**base, **overrides}, source="augment")
    return Augmenter(setting, ranges, _stages(setting, ranges))


def _stages(setting: AugmentSetting, r: AugmentRanges) -> tuple[Stage, ...]:
    everything = setting is AugmentSetting.ALL
    affine = AffineAugment(
        rotation=math.radians(r.rotation) if everything or setting is AugmentSetting.ROTATION else 0.0,
        width_shift=r.width_shift if everything or setting is AugmentSetting.SHIFT else 0.0,
        height_shift=r.height_shift if everything or setting is AugmentSetting.SHIFT else 0.0,
        shear=r.shear_unit.to_radians(r.shear) if everything or setting is AugmentSetting.SHEAR else 0.0,
        zoom=r.zoom if everything or setting is AugmentSetting.ZOOM else 0.0,
        fill_mode=r.fill_mode,
    )
    stages: list[Stage] = []
    if any((affine.rotation, affine.width_shift, affine.height_shift, affine.shear, affine.zoom)):
        stages.append(affine)
    if (everything or setting is AugmentSetting.CHANNEL_SHIFT) and r.channel_shift > 0:
        stages.append(ChannelShiftAugment(r.channel_shift))
    if (everything or setting is AugmentSetting.FLIP) and (r.horizontal_flip or r.vertical_flip):
        stages.append(FlipAugment(r.horizontal_flip, r.vertical_flip))
    return tuple(stages)
