"""The input half of a contract, resolved against what a model file declares, and the transform it implies:
uint8 RGB (n, H, W, 3) pixels -> [resize] -> [RGB -> BGR] -> [(x * scale - mean) / std] -> [NCHW] -> array.

The float arithmetic is the one `TorchTarget` uses (cast, multiply, subtract, divide, elementwise), so an
ONNX, TFLite or Keras copy of a PyTorch model sees bit-identical inputs whatever its layout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import TargetError
from ..models.preprocessing import Preprocessing
from .contract import Channels, InputContract, Layout, contract_error

if TYPE_CHECKING:  # torch is imported where it is used, so declaring adapters stays light
    import torch

Dim = int | str | None  # a model's declared dimension: a number, a symbolic name, or unknown


@dataclass(frozen=True)
class ResolvedInput:
    layout: Layout
    channels: Channels
    uint8: bool  # the model takes raw pixels; any scaling lives inside it
    preprocessing: Preprocessing | None  # float inputs only
    input_size: int | None  # None: the model takes any size
    resize: bool

    def describe(self) -> dict[str, Any]:
        if self.uint8:
            value_range = "uint8 0..255 as is (any scaling happens inside the model)"
        else:
            p = self.preprocessing
            value_range = f"float32 (x * {p.scale:.10g} - mean {list(p.mean)}) / std {list(p.std)}"
        info = {"layout": self.layout.value, "channels": self.channels.value, "range": value_range,
                "input_size": self.input_size}
        if self.resize:
            info["resize"] = (f"crops are resized to {self.input_size}x{self.input_size} inside the target "
                              "(bilinear); the attack changes pixels before the resize")
        return info


def _known(dim: Dim) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def layout_from_shape(shape: Sequence[Dim]) -> Layout | None:
    """NHWC or NCHW when exactly one of axes 1 and 3 is declared as 3 channels; else None (ambiguous)."""
    first, last = _known(shape[1]) == 3, _known(shape[3]) == 3
    if last and not first:
        return Layout.NHWC
    if first and not last:
        return Layout.NCHW
    return None


def resolve_input(contract: InputContract, *, shape: Sequence[Dim], uint8: bool,
                  meta: Mapping[str, Any] | None = None, source: Any = None) -> ResolvedInput:
    """The input contract: the options first, then the file's metadata, then the declared shape."""
    meta = meta or {}
    shape = list(shape)
    if len(shape) != 4:
        raise TargetError(f"the model input has shape {shape}, expected 4-D images", path=source)
    layout = contract.layout or (Layout(meta["layout"]) if meta.get("layout") else layout_from_shape(shape))
    if layout is None:
        raise contract_error(f"ambiguous layout: the model input has shape {shape}, which does not say where "
                             "the 3 colour channels are", "--layout nhwc or --layout nchw", source)
    channel_axis, spatial = (3, shape[1:3]) if layout is Layout.NHWC else (1, shape[2:4])
    if _known(shape[channel_axis]) not in (None, 3):
        raise contract_error(f"layout {layout.value} puts the channels on axis {channel_axis}, but the model "
                             f"input has shape {shape}", "--layout to the other layout", source)
    declared = [_known(d) for d in spatial]
    if None not in declared and declared[0] != declared[1]:
        raise TargetError(f"the model takes {declared[0]}x{declared[1]} images; fasrobust attacks square "
                          "crops", path=source)
    model_size = declared[0] if None not in declared else None
    size = contract.input_size or meta.get("input_size") or model_size
    if model_size is not None and size != model_size:
        raise contract_error(f"--input-size {size} does not match the model input {shape}",
                             f"--input-size {model_size}", source)
    if contract.resize and size is None:
        raise contract_error("--resize needs the size to resize to", "--input-size", source)
    channels = contract.channels or Channels(meta.get("channels", Channels.RGB.value))
    return ResolvedInput(layout=layout, channels=channels, uint8=uint8,
                         preprocessing=_preprocessing(contract, uint8, meta, source),
                         input_size=int(size) if size else None, resize=contract.resize)


def _preprocessing(contract: InputContract, uint8: bool, meta: Mapping[str, Any], source: Any) -> Preprocessing | None:
    stated = [name for name in ("scale", "mean", "std") if getattr(contract, name) is not None]
    if uint8:
        if stated:
            raise TargetError(f"the model takes uint8 pixels as they are, so --{stated[0]} does not apply "
                              "(its scaling is inside the model); drop it", path=source)
        return None
    if contract.scale is None and stated:
        raise contract_error(f"--{stated[0]} is given without --scale", "--scale (1/255 = 0.00392156862745098 "
                             "for inputs in 0..1, 1 for 0..255)", source)
    if contract.scale is not None:
        return Preprocessing(contract.scale, contract.mean or (0.0, 0.0, 0.0), contract.std or (1.0, 1.0, 1.0))
    if meta.get("preprocessing"):
        return Preprocessing.from_dict(meta["preprocessing"], str(source) if source else None)
    raise contract_error("the model takes float input and nothing says how pixels are scaled",
                         "--scale (1/255 = 0.00392156862745098 for inputs in 0..1, 1 for 0..255) and, if the "
                         "model normalises, --mean a,b,c --std a,b,c", source)


class InputFeeder:
    """Resolved input contract -> a callable from uint8 (n, H, W, 3) torch tensors to the model's array."""

    def __init__(self, resolved: ResolvedInput):
        import torch

        self.resolved = resolved
        p = resolved.preprocessing
        if p is not None:
            self.scale = p.scale
            self.plain = all(m == 0 for m in p.mean) and all(s == 1 for s in p.std)
            self.mean = torch.tensor(p.mean, dtype=torch.float32).view(1, 1, 1, 3)
            self.std = torch.tensor(p.std, dtype=torch.float32).view(1, 1, 1, 3)

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        import torch

        r = self.resolved
        x = images.cpu()
        if r.resize and tuple(x.shape[1:3]) != (r.input_size, r.input_size):
            x = resize(x, r.input_size, keep_uint8=r.uint8)
        if r.channels is Channels.BGR:
            x = x.flip(-1)
        if not r.uint8:
            x = x.to(torch.float32)
            x.mul_(self.scale)
            if not self.plain:
                x.sub_(self.mean).div_(self.std)
        if r.layout is Layout.NCHW:
            x = x.permute(0, 3, 1, 2)
        return np.ascontiguousarray(x.numpy())


def resize(images: torch.Tensor, size: int, *, keep_uint8: bool) -> torch.Tensor:
    """Bilinear (antialiased when shrinking) resize of uint8 NHWC crops; rounded back to uint8 for models
    that take raw pixels, kept in float (0..255) otherwise."""
    import torch
    import torch.nn.functional as F

    x = images.permute(0, 3, 1, 2).to(torch.float32)
    shrink = size < images.shape[1]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)
    x = x.permute(0, 2, 3, 1)
    return x.round_().clamp_(0, 255).to(torch.uint8) if keep_uint8 else x.clamp_(0, 255)
