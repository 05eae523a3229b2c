"""Gaussian blur (defence stage): a separable Gaussian of standard deviation sigma pixels, kernel radius
ceil(3 sigma), the image edge repeated outward, rounded back to 8 bits. A changed pixel is spread over
its neighbourhood and diluted; a flat region stays as it is."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from .base import Transform, register_defence
from .settings_model import DefenceSettings

if TYPE_CHECKING:
    import torch


class BlurSettings(DefenceSettings):
    positional = "sigma"

    sigma: Annotated[float, Field(gt=0.0, le=5.0, description="standard deviation in pixels")] = 1.0


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """uint8 (n, H, W, 3) -> uint8, blurred along rows then columns."""
    import torch
    import torch.nn.functional as F

    radius = math.ceil(3 * sigma)
    offsets = torch.arange(-radius, radius + 1, device=images.device, dtype=torch.float32)
    kernel = torch.exp(-offsets ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    x = images.permute(0, 3, 1, 2).float()  # (n, 3, H, W)
    c, h, w = x.shape[1:]
    # Edge padding by index: F.pad's replicate mode wants the pad smaller than the image on some builds.
    rows = torch.arange(-radius, h + radius, device=x.device).clamp(0, h - 1)
    cols = torch.arange(-radius, w + radius, device=x.device).clamp(0, w - 1)
    x = x[:, :, rows][:, :, :, cols]
    x = F.conv2d(x, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)  # along H
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)  # along W
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


@register_defence("blur", description="a Gaussian blur",
                  smoke={"sigma": 1.0})
class GaussianBlur(Transform):
    Settings = BlurSettings

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        return gaussian_blur(images, self.config.sigma)
