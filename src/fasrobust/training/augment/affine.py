"""Affine family of the augmentations (shift, shear, zoom, rotation): one matrix per image, composed in
Keras ImageDataGenerator's order and applied to the whole batch with one `affine_grid`/`grid_sample`.

Sits in training: uint8 crops -> float (N, 3, H, W) 0..255 on the device -> *affine* -> channel shift ->
flips -> normalisation -> model.

Why our own few lines and not kornia or torchvision's RandomAffine: the paper's settings are Keras
semantics, which those do not reproduce: Keras draws zoom_x and zoom_y independently, uses the shear
matrix [[1, -sin s], [0, cos s]], composes rotation @ shift @ shear @ zoom about the centre
(h/2 - 0.5, w/2 - 0.5), interpolates bilinearly and fills with the nearest edge pixel. (Kornia is also
not installed, and torchvision does not import beside our torch.)

Coordinates follow Keras (scipy.ndimage.affine_transform): the matrix maps an *output* pixel (row, col)
to the *input* pixel it samples. So a positive `shift_rows` tx makes output row r show input row r + tx:
the content moves up by tx pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import ClassVar

import torch
import torch.nn.functional as F


class FillMode(StrEnum):
    """How pixels that come from outside the image are filled (Keras `fill_mode`)."""

    NEAREST = "nearest"  # Keras' default: repeat the edge pixel (grid_sample 'border')
    CONSTANT = "constant"  # black (Keras cval=0; grid_sample 'zeros')
    REFLECT = "reflect"  # mirror about the image border, as scipy's 'reflect' (grid_sample 'reflection')

    @property
    def padding_mode(self) -> str:
        return {"nearest": "border", "constant": "zeros", "reflect": "reflection"}[self.value]


@dataclass(frozen=True)
class AffineParams:
    """Per-image draws, each a (N,) tensor. Angles in radians, shifts in pixels, zooms as factors
    (> 1 zooms out, as in Keras)."""

    rotation: torch.Tensor
    shift_rows: torch.Tensor
    shift_cols: torch.Tensor
    shear: torch.Tensor
    zoom_rows: torch.Tensor
    zoom_cols: torch.Tensor

    def to(self, device: torch.device) -> AffineParams:
        return AffineParams(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def _uniform(n: int, half_width: float, generator: torch.Generator, centre: float = 0.0) -> torch.Tensor:
    """U(centre - half_width, centre + half_width), per image; a constant (no draw) when the width is 0,
    so a disabled parameter does not consume random numbers (as Keras skips it)."""
    if half_width == 0:
        return torch.full((n,), centre, device=generator.device)
    u = torch.rand(n, generator=generator, device=generator.device)
    return centre + half_width * (2.0 * u - 1.0)


@dataclass(frozen=True)
class AffineAugment:
    """Random affine transform with Keras ranges. `rotation` and `shear` are the maximum angles in
    radians; shifts are a fraction of the size when < 1, else pixels; `zoom` z draws each axis from
    U(1 - z, 1 + z)."""

    rotation: float = 0.0
    width_shift: float = 0.0
    height_shift: float = 0.0
    shear: float = 0.0
    zoom: float = 0.0
    fill_mode: FillMode = FillMode.NEAREST
    name: ClassVar[str] = "affine"

    def __post_init__(self) -> None:
        object.__setattr__(self, "fill_mode", FillMode(self.fill_mode))

    def sample_params(self, n: int, generator: torch.Generator, height: int, width: int) -> AffineParams:
        # Keras' draw order: rotation, shifts (height, then width), shear, zoom.
        rows = self.height_shift * height if self.height_shift < 1 else self.height_shift
        cols = self.width_shift * width if self.width_shift < 1 else self.width_shift
        return AffineParams(
            rotation=_uniform(n, self.rotation, generator),
            shift_rows=_uniform(n, rows, generator),
            shift_cols=_uniform(n, cols, generator),
            shear=_uniform(n, self.shear, generator),
            zoom_rows=_uniform(n, self.zoom, generator, centre=1.0),
            zoom_cols=_uniform(n, self.zoom, generator, centre=1.0),
        )

    def apply(self, batch: torch.Tensor, params: AffineParams) -> torch.Tensor:
        n, _, height, width = batch.shape
        theta = keras_to_theta(params, height, width).to(batch.dtype)
        grid = F.affine_grid(theta, [n, batch.shape[1], height, width], align_corners=False)
        return F.grid_sample(batch, grid, mode="bilinear", padding_mode=self.fill_mode.padding_mode,
                             align_corners=False)


def keras_matrix(params: AffineParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Keras' transform in (row, col) pixel coordinates about the image centre: input = L @ output + t,
    with L = R(rotation) @ Shear @ Zoom and t = R(rotation) @ shift. Returns L (N, 2, 2) and t (N, 2)."""
    cos_r, sin_r = torch.cos(params.rotation), torch.sin(params.rotation)
    rotation = torch.stack([torch.stack([cos_r, -sin_r], -1), torch.stack([sin_r, cos_r], -1)], -2)
    zeros, ones = torch.zeros_like(params.shear), torch.ones_like(params.shear)
    shear = torch.stack([torch.stack([ones, -torch.sin(params.shear)], -1),
                         torch.stack([zeros, torch.cos(params.shear)], -1)], -2)
    zoom = torch.diag_embed(torch.stack([params.zoom_rows, params.zoom_cols], -1))
    shift = torch.stack([params.shift_rows, params.shift_cols], -1)
    return rotation @ shear @ zoom, (rotation @ shift.unsqueeze(-1)).squeeze(-1)


def keras_to_theta(params: AffineParams, height: int, width: int) -> torch.Tensor:
    """The (N, 2, 3) `affine_grid` matrix for Keras' transform. affine_grid works in (x=col, y=row)
    coordinates normalised to [-1, 1]; with align_corners=False its origin is exactly Keras' centre
    (h/2 - 0.5, w/2 - 0.5), so only the scale (2/size per axis) and the axis order change."""
    linear, shift = keras_matrix(params)
    scale = torch.tensor([2.0 / height, 2.0 / width], device=linear.device, dtype=linear.dtype)
    linear = linear * scale.view(1, 2, 1) / scale.view(1, 1, 2)  # D L D^-1 in (row, col)
    shift = shift * scale
    # (row, col) -> (col, row): reverse both axes of the matrix and the vector.
    return torch.cat([linear.flip(-1).flip(-2), shift.flip(-1).unsqueeze(-1)], dim=-1)
