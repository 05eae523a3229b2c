"""Import ImageNet VGG16 weights from a file the user supplies (nothing is ever downloaded).

Accepted: a torchvision VGG16 state dict (`vgg16-397923af.pth` layout: `features.N.weight/bias` plus
`classifier.*`, which is ignored), as a PyTorch file read with `torch.load(weights_only=True)` (no
arbitrary unpickling) or as a .safetensors file; a {"state_dict": {...}} wrapper is unwrapped. Anything
else (VGG16-BN, VGG19, another network, a pickled object) is a one-line ModelError."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ModelError
from ..provenance import file_sha256
from .vgg import vgg16_parameter_shapes

_SHOW = 3  # how many offending keys a message names


def _names(keys) -> str:
    keys = sorted(keys, key=_natural)
    more = f" (+{len(keys) - _SHOW} more)" if len(keys) > _SHOW else ""
    return ", ".join(keys[:_SHOW]) + more


def _natural(key: str):
    return [int(p) if p.isdigit() else p for p in key.split(".")]


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A flat {name: tensor} from a .pth/.pt (weights only) or .safetensors file."""
    if not path.is_file():
        raise ModelError("ImageNet weights file not found", path)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise ModelError(f"not a readable safetensors file ({exc})", path) from None
    try:
        obj: Any = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ModelError("holds Python objects other than tensors; only a plain state dict "
                         "(name -> tensor) is loaded, never arbitrary pickles", path) from None
    except Exception as exc:  # garbage makes torch.load raise anything (EOFError, IndexError, ...)
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"not a PyTorch weights file ({first})", path) from None
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelError(f"expected a state dict of tensors, found {type(obj).__name__}", path)
    return dict(obj)


def check_vgg16_features(state: Mapping[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """The 26 `features.*` tensors, checked against VGG16's names and shapes."""
    expected = vgg16_parameter_shapes()
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    foreign = [k for k in state if not k.startswith(("features.", "classifier."))]
    if not features or foreign:
        sample = _names(foreign or state)
        raise ModelError(f"not a torchvision VGG16 state dict (keys such as {sample})", path)
    missing, unexpected = set(expected) - set(features), set(features) - set(expected)
    if missing or unexpected:
        detail = "; ".join(part for part in (missing and f"missing {_names(missing)}",
                                              unexpected and f"unexpected {_names(unexpected)}") if part)
        raise ModelError(f"conv layers do not match VGG16 ({detail}); VGG16-BN or VGG19 files do not fit", path)
    wrong = [f"{k} {tuple(v.shape)} (VGG16: {expected[k]})" for k, v in features.items()
             if tuple(v.shape) != expected[k]]
    if wrong:
        raise ModelError(f"tensor shapes do not match VGG16: {'; '.join(sorted(wrong, key=_natural)[:_SHOW])}",
                         path)
    if not all(v.is_floating_point() for v in features.values()):
        raise ModelError("conv weights must be floating point", path)
    return features


def load_imagenet_features(model: nn.Module, path: str | Path) -> dict[str, Any]:
    """Copy a VGG16 ImageNet file's conv weights into `model.features`; returns the provenance record
    written to model.json (path, sha256, how many tensors)."""
    path = Path(path)
    if getattr(model, "backbone", None) != "vgg16":
        raise ModelError(f"ImageNet VGG16 weights need a VGG16-backed model (this one: "
                         f"{getattr(model, 'backbone', type(model).__name__)})", path)
    features = check_vgg16_features(read_state_dict(path), path)
    local = {k.removeprefix("features."): v.to(torch.float32) for k, v in features.items()}
    with torch.no_grad():
        model.features.load_state_dict(local, strict=True)
    return {"path": str(path.resolve()), "sha256": file_sha256(path), "tensors": len(local)}
