"""Median filter (defence stage): each channel's value becomes the median of its size x size
neighbourhood, the image edge repeated outward. A few changed pixels are outliers in their neighbourhood,
so a median removes them, and a flat region is left exactly as it was."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field, field_validator

from .base import Transform, register_defence
from .settings_model import DefenceSettings, Whole

if TYPE_CHECKING:
    import torch

#: Bytes of neighbourhoods gathered at once (uint8, size^2 per value): keeps a 9x9 filter of a big batch
#: from asking for gigabytes.
_WINDOW_BYTES = 64 << 20


class MedianSettings(DefenceSettings):
    positional = "size"

    size: Annotated[Whole, Field(ge=3, le=9, description="window side, odd (3: 3x3)")] = 3

    @field_validator("size")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"must be odd (the window is centred on the pixel), got {value}")
        return value


def median_filter(images: torch.Tensor, size: int) -> torch.Tensor:
    """Per-channel size x size median of uint8 (n, H, W, 3) images, edge padding; uint8 out."""
    import torch

    n, h, w, c = images.shape
    r = size // 2
    rows = torch.arange(-r, h + r, device=images.device).clamp(0, h - 1)
    cols = torch.arange(-r, w + r, device=images.device).clamp(0, w - 1)
    out = torch.empty_like(images)
    per_image = h * w * c * size * size
    step = max(1, _WINDOW_BYTES // per_image)
    for start in range(0, n, step):
        padded = images[start:start + step][:, rows][:, :, cols]  # (m, H+2r, W+2r, 3)
        windows = padded.unfold(1, size, 1).unfold(2, size, 1)  # (m, H, W, 3, size, size)
        # size^2 is odd, so the median is one of the values: no rounding.
        out[start:start + step] = windows.reshape(*windows.shape[:4], -1).median(dim=-1).values
    return out


@register_defence("median", description="a median filter over an odd k x k window (removes isolated pixels by construction)",
                  smoke={"size": 3})
class MedianFilter(Transform):
    Settings = MedianSettings

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        return median_filter(images, self.config.size)
