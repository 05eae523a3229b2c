"""Keras ImageDataGenerator's affine matrix, written out for the two Keras lines we can follow.

Sits under affine.py: the per-image draws (theta, tx, ty, shear, zx, zy) -> *the 3x3 matrix in pixel
coordinates that Keras hands to scipy.ndimage.affine_transform* -> affine.py turns it into one
`affine_grid`. The matrix maps an *output* pixel (row, col) to the *input* pixel it samples; pixel
centres sit at integer coordinates.

Both lines compose M0 = rotation @ shift @ shear @ zoom, with rotation [[cos, -sin], [sin, cos]], shift
(tx, ty), shear [[1, -sin s], [0, cos s]] and zoom diag(zx, zy), then move it to a centre o:
M = offset(o) @ M0 @ offset(-o). They differ in where that matrix acts:
- keras2, keras-preprocessing 1.1.2 (`image/affine_transformations.py`, the ImageDataGenerator of the
  Keras 2 line, 2018-2021): M0's first axis is the row, so tx and zx act on rows, ty and zy on columns,
  and the centre is o = (h/2 + 0.5, w/2 + 0.5), half a pixel *past* the true centre (h - 1)/2.
- keras3, `keras.src.legacy.preprocessing.image` (Keras 3): the same M0 and the centre
  (h/2 - 0.5, w/2 - 0.5) are built, then both axes of the matrix are swapped (P M P), so M0's first axis is
  the column: tx and zx act on columns, rotation turns the other way, and on a non-square image the row
  centre is w/2 - 0.5 and the column centre h/2 - 0.5. Both quirks are reproduced, since the point of
  this convention is to match that library exactly.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .affine import AffineParams


class KerasConvention(StrEnum):
    """Which Keras ImageDataGenerator the affine family reproduces (see the module docstring)."""

    KERAS2 = "keras2"  # keras-preprocessing 1.1.2: the Keras 2 line of the paper (2019-2020); the default
    KERAS3 = "keras3"  # keras.src.legacy.preprocessing.image

    def centre(self, height: int, width: int) -> tuple[float, float]:
        """Keras' centre (o_x, o_y) in M0's own axes, before any axis swap."""
        half_pixel = 0.5 if self is KerasConvention.KERAS2 else -0.5
        return height / 2 + half_pixel, width / 2 + half_pixel


def _homogeneous(linear: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """(N, 2, 2) and (N, 2) -> (N, 3, 3) [[linear, shift], [0, 0, 1]]."""
    top = torch.cat([linear, shift.unsqueeze(-1)], dim=-1)
    bottom = torch.zeros_like(top[:, :1])
    bottom[..., 2] = 1.0
    return torch.cat([top, bottom], dim=-2)


def keras_m0(params: AffineParams) -> torch.Tensor:
    """Keras' rotation @ shift @ shear @ zoom, before centring: (N, 3, 3)."""
    cos_t, sin_t = torch.cos(params.theta), torch.sin(params.theta)
    zeros, ones = torch.zeros_like(params.theta), torch.ones_like(params.theta)
    rotation = torch.stack([torch.stack([cos_t, -sin_t], -1), torch.stack([sin_t, cos_t], -1)], -2)
    shear = torch.stack([torch.stack([ones, -torch.sin(params.shear)], -1),
                         torch.stack([zeros, torch.cos(params.shear)], -1)], -2)
    zoom = torch.diag_embed(torch.stack([params.zx, params.zy], -1))
    eye, no_shift = torch.eye(2).to(zeros).expand_as(rotation), torch.stack([zeros, zeros], -1)
    shift = _homogeneous(eye, torch.stack([params.tx, params.ty], -1))
    return _homogeneous(rotation, no_shift) @ shift @ _homogeneous(shear, no_shift) @ _homogeneous(zoom, no_shift)


def keras_pixel_matrix(params: AffineParams, height: int, width: int,
                       convention: KerasConvention) -> torch.Tensor:
    """(N, 3, 3): input (row, col, 1) = M @ output (row, col, 1), as scipy receives it from Keras."""
    m0 = keras_m0(params)
    o_first, o_second = convention.centre(height, width)
    eye = torch.eye(2).to(m0).expand(m0.shape[0], 2, 2)
    centre = torch.tensor([o_first, o_second]).to(m0).expand(m0.shape[0], 2)
    matrix = _homogeneous(eye, centre) @ m0 @ _homogeneous(eye, -centre)
    if convention is KerasConvention.KERAS3:
        swap = [1, 0, 2]
        matrix = matrix[:, swap][:, :, swap]
    return matrix
