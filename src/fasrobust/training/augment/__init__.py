"""The paper's eight data-augmentation settings, with Keras ImageDataGenerator semantics (exact to
keras-preprocessing 1.1.2, the Keras 2 line the paper used; Keras 3's as an option), plus impulse noise,
batched on the model's device.

Sits in training, between the FaceSet batch and the model: uint8 crops -> float (N, 3, H, W) in 0..255
on the device -> `augmenter(batch, generator)` -> normalisation -> model. Every parameter is drawn
independently per image from the caller's `torch.Generator` (so a seed fixes the whole stream), family
by family in Keras' order of application: affine transform (affine.py), channel shift (channel_shift.py),
flips (flip.py), then impulse noise (impulse.py) when the name asks for it ("all+impulse").

Names: names.py; ranges and their defaults: ranges.py; the two Keras conventions: keras_convention.py.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Protocol

import torch

from .affine import AffineAugment, AffineParams, FillMode
from .channel_shift import ChannelShiftAugment, ChannelShiftParams
from .flip import FlipAugment, FlipParams
from .impulse import ImpulseAugment, ImpulseParams
from .keras_convention import KerasConvention
from .names import IMPULSE, AugmentSetting, augment_names, canonical_augment, split_augment
from .ranges import AngleUnit, AugmentRanges

__all__ = [
    "IMPULSE", "AffineParams", "AngleUnit", "AugmentRanges", "AugmentSetting", "Augmenter", "ChannelShiftParams",
    "FillMode", "FlipParams", "ImpulseParams", "KerasConvention", "augment_names", "build_augmenter",
    "canonical_augment",
]


class Stage(Protocol):
    """One augmentation family: draws its per-image parameters, then applies them to a batch."""

    name: str

    def sample_params(self, n: int, generator: torch.Generator, height: int, width: int) -> Any: ...

    def apply(self, batch: torch.Tensor, params: Any) -> torch.Tensor: ...


class Augmenter:
    """`augmenter(batch, generator) -> batch`: float (N, 3, H, W) in 0..255 on any device, the generator on
    the same device. No loop over images; no state kept between calls. For tests and inspection,
    `sample_params` draws what a call would draw and `apply` applies given parameters. `name` is the
    canonical setting name ('all+impulse'), `setting` the paper's setting under it (ALL)."""

    def __init__(self, name: str, ranges: AugmentRanges, stages: tuple[Stage, ...]):
        self.name = canonical_augment(name)
        self.setting = split_augment(self.name)[0]
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
        return {"setting": self.name, "ranges": self.ranges.model_dump(mode="json"),
                "stages": [{"name": stage.name, **dataclasses.asdict(stage)} for stage in self.stages]}

    def __repr__(self) -> str:
        return f"Augmenter({self.name!r}, stages={list(self.stages)})"


def build_augmenter(setting: AugmentSetting | str, ranges: AugmentRanges | None = None,
                    **overrides: Any) -> Augmenter:
    """The augmenter for any name `canonical_augment` accepts ('shift', 'all+impulse', ...). Ranges
    default to ranges.py's; keyword overrides (`rotation=20`, `convention='keras3'`, ...) are validated,
    and a bad one is a one-line ConfigError."""
    name = canonical_augment(setting)
    base = (ranges or AugmentRanges()).model_dump()
    ranges = AugmentRanges.build({**base, **overrides}, source="augment")
    paper_setting, impulse = split_augment(name)
    stages = _stages(paper_setting, ranges)
    if impulse:
        stages = (*stages, ImpulseAugment(ranges.impulse_pixels))
    return Augmenter(name, ranges, stages)


def _stages(setting: AugmentSetting, r: AugmentRanges) -> tuple[Stage, ...]:
    everything = setting is AugmentSetting.ALL
    affine = AffineAugment(
        rotation=math.radians(r.rotation) if everything or setting is AugmentSetting.ROTATION else 0.0,
        width_shift=r.width_shift if everything or setting is AugmentSetting.SHIFT else 0.0,
        height_shift=r.height_shift if everything or setting is AugmentSetting.SHIFT else 0.0,
        shear=r.shear_unit.to_radians(r.shear) if everything or setting is AugmentSetting.SHEAR else 0.0,
        zoom=r.zoom if everything or setting is AugmentSetting.ZOOM else 0.0,
        fill_mode=r.fill_mode,
        convention=r.convention,
    )
    stages: list[Stage] = []
    if any((affine.rotation, affine.width_shift, affine.height_shift, affine.shear, affine.zoom)):
        stages.append(affine)
    if (everything or setting is AugmentSetting.CHANNEL_SHIFT) and r.channel_shift > 0:
        stages.append(ChannelShiftAugment(r.channel_shift))
    if (everything or setting is AugmentSetting.FLIP) and (r.horizontal_flip or r.vertical_flip):
        stages.append(FlipAugment(r.horizontal_flip, r.vertical_flip))
    return tuple(stages)
