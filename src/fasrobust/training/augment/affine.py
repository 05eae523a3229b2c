"""Affine family of the augmentations (shift, shear, zoom, rotation): Keras ImageDataGenerator's draws and
matrix, applied to the whole batch with one `affine_grid`/`grid_sample`.

Sits in training: uint8 crops -> float (N, 3, H, W) 0..255 on the device -> *affine* -> channel shift ->
flips -> impulse noise -> normalisation -> model.

Exact, by default, to keras-preprocessing 1.1.2 (the Keras 2 line the paper used); `convention=keras3`
follows Keras 3's legacy ImageDataGenerator instead (keras_convention.py says how they differ). Both are
checked against the real libraries at fixed parameters (tests/test_augment_keras.py). What is matched:
- the draws: theta ~ U(-rotation, rotation); tx from the *height* range, ty from the *width* range
  (a float < 1 is a fraction of that size, a float >= 1 pixels, an int n the integer pixels k * sign with
  k uniform in 0..n-1 and sign +-1, as Keras' np.random.choice); shear ~ U(-shear, shear); zx and zy
  drawn independently from U(1 - zoom, 1 + zoom); a disabled parameter draws nothing;
- the matrix (keras_convention.py), bilinear interpolation (Keras' interpolation_order=1) and the fill
  modes of scipy.ndimage: nearest (edge pixel), reflect (half-sample mirror), constant (0 for every
  sample whose source point lies outside the pixel centres, with no blending at the edge).

Why our own few lines and not kornia or torchvision's RandomAffine: neither reproduces these semantics
(Kornia is also not installed, and torchvision does not import beside our torch).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import ClassVar

import torch
import torch.nn.functional as F

from .keras_convention import KerasConvention, keras_pixel_matrix

#: Slack, in pixels, for a constant-fill sample that lands on the edge pixel centre up to rounding.
EDGE_TOLERANCE = 1e-6


class FillMode(StrEnum):
    """How pixels that come from outside the image are filled (Keras `fill_mode`)."""

    NEAREST = "nearest"  # Keras' default: repeat the edge pixel (grid_sample 'border')
    CONSTANT = "constant"  # black (Keras cval=0): scipy's 'constant', no blend with the edge
    REFLECT = "reflect"  # mirror about the image border, as scipy's 'reflect' (grid_sample 'reflection')

    @property
    def padding_mode(self) -> str:
        return {"nearest": "border", "constant": "border", "reflect": "reflection"}[self.value]


@dataclass(frozen=True)
class AffineParams:
    """Per-image draws, each a (N,) tensor, named as Keras' transform parameters: angles in radians
    (Keras takes degrees), shifts in pixels, zooms as factors (> 1 zooms out). Which axis tx and zx act
    on is the convention's (keras2: rows)."""

    theta: torch.Tensor
    tx: torch.Tensor
    ty: torch.Tensor
    shear: torch.Tensor
    zx: torch.Tensor
    zy: torch.Tensor

    def to(self, device: torch.device) -> AffineParams:
        return AffineParams(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def _uniform(n: int, half_width: float, generator: torch.Generator, centre: float = 0.0) -> torch.Tensor:
    """U(centre - half_width, centre + half_width), per image; a constant (no draw) when the width is 0,
    so a disabled parameter does not consume random numbers (as Keras skips it)."""
    if half_width == 0:
        return torch.full((n,), centre, device=generator.device)
    u = torch.rand(n, generator=generator, device=generator.device)
    return centre + half_width * (2.0 * u - 1.0)


def _shift(n: int, shift_range: int | float, size: int, generator: torch.Generator) -> torch.Tensor:
    """Keras' shift draw along one axis of `size` pixels (see the module docstring)."""
    if isinstance(shift_range, int) and shift_range >= 1:
        magnitude = torch.randint(0, shift_range, (n,), generator=generator, device=generator.device)
        sign = torch.randint(0, 2, (n,), generator=generator, device=generator.device) * 2 - 1
        return (magnitude * sign).to(torch.get_default_dtype())
    return _uniform(n, shift_range * size if shift_range < 1 else float(shift_range), generator)


@dataclass(frozen=True)
class AffineAugment:
    """Random affine transform with Keras ranges. `rotation` and `shear` are the maximum angles in
    radians; shifts as Keras' `height_shift_range` / `width_shift_range`; `zoom` z draws each axis from
    U(1 - z, 1 + z)."""

    rotation: float = 0.0
    width_shift: int | float = 0.0
    height_shift: int | float = 0.0
    shear: float = 0.0
    zoom: float = 0.0
    fill_mode: FillMode = FillMode.NEAREST
    convention: KerasConvention = KerasConvention.KERAS2
    name: ClassVar[str] = "affine"

    def __post_init__(self) -> None:
        object.__setattr__(self, "fill_mode", FillMode(self.fill_mode))
        object.__setattr__(self, "convention", KerasConvention(self.convention))

    def sample_params(self, n: int, generator: torch.Generator, height: int, width: int) -> AffineParams:
        # Keras' draw order: rotation, tx (height), ty (width), shear, zx, zy.
        return AffineParams(
            theta=_uniform(n, self.rotation, generator),
            tx=_shift(n, self.height_shift, height, generator),
            ty=_shift(n, self.width_shift, width, generator),
            shear=_uniform(n, self.shear, generator),
            zx=_uniform(n, self.zoom, generator, centre=1.0),
            zy=_uniform(n, self.zoom, generator, centre=1.0),
        )

    def apply(self, batch: torch.Tensor, params: AffineParams) -> torch.Tensor:
        n, _, height, width = batch.shape
        matrix = keras_pixel_matrix(params, height, width, self.convention).to(batch.dtype)
        grid = F.affine_grid(grid_theta(matrix, height, width), [n, batch.shape[1], height, width],
                             align_corners=False)
        out = F.grid_sample(batch, grid, mode="bilinear", padding_mode=self.fill_mode.padding_mode,
                            align_corners=False)
        if self.fill_mode is FillMode.CONSTANT:
            out = out * _inside(grid, height, width).unsqueeze(1)
        return out


def grid_theta(matrix: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The (N, 2, 3) `affine_grid` matrix for a (row, col) pixel matrix. With align_corners=False,
    pixel p = scale * n + (scale - 0.5) for the normalised coordinate n, scale = size / 2; affine_grid
    then wants the result in (x=col, y=row) order."""
    to_pixels = torch.tensor([[height / 2, 0.0, height / 2 - 0.5], [0.0, width / 2, width / 2 - 0.5],
                              [0.0, 0.0, 1.0]]).to(matrix)
    normalised = torch.linalg.inv(to_pixels) @ matrix @ to_pixels
    col_row = [1, 0, 2]
    return normalised[:, col_row][:, :, col_row][:, :2]


def _inside(grid: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(N, H, W) 1 where the source point lies within the pixel centres [0, size - 1] on both axes."""
    cols = (grid[..., 0] + 1) * width / 2 - 0.5
    rows = (grid[..., 1] + 1) * height / 2 - 0.5
    inside = ((cols >= -EDGE_TOLERANCE) & (cols <= width - 1 + EDGE_TOLERANCE)
              & (rows >= -EDGE_TOLERANCE) & (rows <= height - 1 + EDGE_TOLERANCE))
    return inside.to(grid.dtype)
