"""How far each augmentation family may go: the typed `augment_ranges` of a training run.

Sits in training, read by `build_augmenter` (augment/__init__.py); the setting's name decides which
families are active, these only their magnitudes (a 'shift' augmenter ignores `rotation`).

Defaults are Lucena et al.'s (the FASNet code the paper builds on) read as the paper's Keras 2 read them:
rotation 40 degrees, width and height shift 0.2, shear 0.2, zoom 0.2, both flips, nearest fill. Two values
need a decision:
- shear 0.2 is in *degrees*, as Keras 2 and 3 read `shear_range`. That moves a 32-pixel crop's edge by
  0.06 pixels, i.e. almost no augmentation; it is what the paper's Keras did with Lucena's number. Lucena's
  code is Keras 1, where the same number meant radians (about 11.5 degrees): `shear_unit: radians`.
- channel shift: Lucena's code sets none and the paper gives no value. We use 51.0 (0-255 units), i.e.
  0.2 of the 8-bit range, the same 0.2 magnitude as Lucena's other ranges. It is recorded with every
  model, and any value can be passed (`channel_shift=...`).
"""

from __future__ import annotations

import math
from enum import StrEnum

from pydantic import Field

from ...settings import Settings
from .affine import FillMode
from .keras_convention import KerasConvention


class AngleUnit(StrEnum):
    DEGREES = "degrees"
    RADIANS = "radians"

    def to_radians(self, value: float) -> float:
        return math.radians(value) if self is AngleUnit.DEGREES else value


class AugmentRanges(Settings):
    """Magnitudes of the families, with Keras' meaning for each (see affine.py for the shift rules)."""

    rotation: float = Field(40.0, ge=0, le=180, description="max rotation, degrees (as Keras)")
    # int | float keeps Keras' distinction: an int n draws integer shifts, a float a continuous one.
    width_shift: int | float = Field(0.2, ge=0, description="fraction of the width if a float < 1, else pixels")
    height_shift: int | float = Field(0.2, ge=0, description="fraction of the height if a float < 1, else pixels")
    shear: float = Field(0.2, ge=0, description="max shear angle, in `shear_unit`")
    shear_unit: AngleUnit = AngleUnit.DEGREES
    zoom: float = Field(0.2, ge=0, lt=1, description="zoom factors per axis from U(1 - zoom, 1 + zoom)")
    channel_shift: float = Field(51.0, ge=0, le=255, description="max intensity added, 0-255 units")
    horizontal_flip: bool = True
    vertical_flip: bool = True
    fill_mode: FillMode = FillMode.NEAREST
    convention: KerasConvention = Field(KerasConvention.KERAS2, description="which Keras' affine semantics")
    impulse_pixels: int = Field(9, ge=1, description="impulse noise: k ~ U{1..impulse_pixels} pixels per image")
