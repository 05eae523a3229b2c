"""How uint8 RGB pixels become model input: x_float = (pixel * scale - mean) / std per channel, on
(N, 3, H, W). It is data, not part of the model: recorded in model.json, applied by the trainer, by
every Target and folded into exported ONNX files, so all of them see the same numbers.

Presets: 'lucena' (scale 1/255, mean 0, std 1: Lucena et al.'s public code, no VGG mean subtraction)
is the default; 'imagenet' (torchvision's mean/std on [0, 1]) is the default when ImageNet weights are
loaded, because those filters were trained on inputs normalised that way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ..errors import ModelError

if TYPE_CHECKING:  # torch is imported where it is used, so declaring adapters stays light
    import torch


class PreprocessingPreset(StrEnum):
    LUCENA = "lucena"
    IMAGENET = "imagenet"


@dataclass(frozen=True)
class Preprocessing:
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def to_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> Preprocessing:
        try:
            scale = float(data["scale"])
            mean = tuple(float(v) for v in data["mean"])
            std = tuple(float(v) for v in data["std"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"preprocessing needs scale, mean[3], std[3] ({exc!r})", source) from None
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ModelError("preprocessing needs 3 means and 3 positive stds", source)
        return cls(scale, mean, std)  # type: ignore[arg-type]

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """x: float (N, 3, H, W) in 0..255 -> (x * scale - mean) / std."""
        return self.normaliser(x.device, x.dtype)(x)

    def normaliser(self, device: torch.device | str, dtype: torch.dtype | None = None):
        """The transform with its constants already on `device` (float32 unless `dtype` says otherwise; for
        loops that call it every step), written exactly as the contract says so that every component
        computes the same floats."""
        import torch

        dtype = dtype or torch.float32
        mean = torch.tensor(self.mean, device=device, dtype=dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=device, dtype=dtype).view(1, 3, 1, 1)
        scale = self.scale

        def normalise(x: torch.Tensor) -> torch.Tensor:
            return (x * scale - mean) / std

        return normalise


PRESETS: dict[PreprocessingPreset, Preprocessing] = {
    PreprocessingPreset.LUCENA: Preprocessing(1 / 255, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    PreprocessingPreset.IMAGENET: Preprocessing(1 / 255, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
