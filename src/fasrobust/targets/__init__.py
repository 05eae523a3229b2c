"""What an attack queries: a `Target` maps uint8 (N, H, W, 3) RGB images to P(live) per image.

Adapters own scaling, layout and normalisation; the base class validates inputs and outputs,
chunks batches and counts queries exactly. `load_target(spec)` picks the adapter from a spec string:
an http(s) URL, an .onnx file, or a fasrobust run directory (or its model.json / model.safetensors).
The ONNX and HTTP adapters import onnxruntime / httpx only when one is built."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import TargetError
from ..models.preprocessing import Preprocessing
from .base import QueryBudgetExceeded, Target
from .checks import TargetCheck, check_target
from .http_target import HttpTarget
from .onnx_target import OnnxTarget
from .torch_target import Output, TorchTarget

__all__ = ["Target", "QueryBudgetExceeded", "TorchTarget", "OnnxTarget", "HttpTarget", "Preprocessing",
           "Output", "check_target", "TargetCheck", "load_target"]


def load_target(spec: str | Path, **options: Any) -> Target:
    """A target from a spec: 'http(s)://host:port' -> HttpTarget, 'model.onnx' -> OnnxTarget,
    a run directory (or a file in it) -> TorchTarget.from_checkpoint. `options` go to the adapter."""
    text = str(spec)
    if text.startswith(("http://", "https://")):
        return HttpTarget(text, **options)
    path = Path(spec)
    if not path.exists():
        raise TargetError("target not found (expected a run directory, an .onnx file or an http(s) URL)",
                          path=path)
    if path.suffix.lower() == ".onnx":
        return OnnxTarget(path, **options)
    if path.is_dir() or path.suffix.lower() in (".json", ".safetensors"):
        return TorchTarget.from_checkpoint(path, **options)
    raise TargetError("not a target: expected a run directory, model.json, an .onnx file or an http(s) URL",
                      path=path)

