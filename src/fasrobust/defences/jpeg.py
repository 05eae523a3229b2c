"""JPEG re-encoding (defence stage): each image is encoded at quality q and decoded again, in memory,
with Pillow (on the CPU; torch has no JPEG encoder that every build carries). Quantisation of the DCT
coefficients removes the fine, high-frequency detail a few changed pixels add."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Annotated

import numpy as np
from pydantic import Field

from .base import Transform, register_defence
from .settings_model import DefenceSettings, Whole

if TYPE_CHECKING:
    import torch

#: From this quality on, chroma is kept at full resolution (4:4:4). Pillow's default 4:2:0 halves the
#: colour resolution whatever the quality, so without this q=100 would still blur every colour edge;
#: with it, q=100 is close to the identity and the quality setting alone says how much is removed.
FULL_CHROMA_QUALITY = 90


class JpegSettings(DefenceSettings):
    positional = "quality"

    quality: Annotated[Whole, Field(ge=1, le=100, description="JPEG quality (100: least loss)")] = 75


def jpeg_roundtrip(images: torch.Tensor, quality: int) -> torch.Tensor:
    """uint8 (n, H, W, 3) -> uint8, each image JPEG-encoded at `quality` and decoded."""
    import torch
    from PIL import Image

    subsampling = 0 if quality >= FULL_CHROMA_QUALITY else 2  # 0: 4:4:4, 2: 4:2:0 (Pillow's codes)
    host = images.cpu().numpy()
    out = np.empty_like(host)
    for i, image in enumerate(host):
        buffer = io.BytesIO()
        Image.fromarray(image, mode="RGB").save(buffer, format="JPEG", quality=int(quality),
                                                subsampling=subsampling)
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            out[i] = np.asarray(decoded.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(out).to(images.device)


@register_defence("jpeg", description="JPEG re-encoding at a quality",
                  smoke={"quality": 75})
class JpegDefence(Transform):
    Settings = JpegSettings

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        return jpeg_roundtrip(images, self.config.quality)
