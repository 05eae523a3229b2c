"""What an attack queries: a `Target` maps uint8 (N, H, W, 3) RGB images to P(live) per image.

Adapters own layout, channel order, scaling and output reading (the `contract.Contract`); the base class
validates inputs and outputs, chunks batches, counts queries exactly and holds the threshold.
`load_target(source, contract)` picks the adapter from a source string: an http(s) URL, 'python:pkg.mod:fn',
an .onnx, .tflite, .keras or .h5 file, a TensorFlow SavedModel directory, or a fasrobust run directory (or
its model.json / model.safetensors). Each adapter imports its runtime (onnxruntime, TensorFlow, LiteRT,
httpx) only when one is built."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from ..errors import TargetError
from ..models.preprocessing import Preprocessing
from .base import QueryBudgetExceeded, Target
from .checks import TargetCheck, check_target
from .contract import (
    Channels,
    Contract,
    Encoding,
    InputContract,
    Layout,
    OutputContract,
    OutputKind,
    RequestKind,
    ServiceContract,
    TargetSpec,
)
from .http_target import HttpTarget
from .keras_target import KerasTarget
from .onnx_target import OnnxTarget
from .python_target import PythonTarget
from .tflite_target import TfliteTarget
from .torch_target import Output, TorchTarget

__all__ = ["Target", "QueryBudgetExceeded", "TorchTarget", "OnnxTarget", "HttpTarget", "PythonTarget",
           "KerasTarget", "TfliteTarget", "Preprocessing", "Output", "check_target", "TargetCheck", "load_target",
           "Contract", "InputContract", "OutputContract", "ServiceContract", "TargetSpec", "Layout", "Channels",
           "OutputKind", "RequestKind", "Encoding", "Adapter", "detect_adapter"]


class Adapter(StrEnum):
    TORCH = "torch"
    ONNX = "onnx"
    TFLITE = "tflite"
    KERAS = "keras"
    PYTHON = "python"
    HTTP = "http"


_SUFFIXES = {".onnx": Adapter.ONNX, ".tflite": Adapter.TFLITE, ".keras": Adapter.KERAS, ".h5": Adapter.KERAS,
             ".hdf5": Adapter.KERAS, ".json": Adapter.TORCH, ".safetensors": Adapter.TORCH}
_WHAT = ("a run directory, an .onnx, .tflite, .keras or .h5 file, a SavedModel directory, "
         "'python:package.module:function' or an http(s) URL")


def detect_adapter(source: str | Path) -> Adapter:
    """Which adapter serves a source string; a path must exist."""
    text = str(source)
    if text.startswith(("http://", "https://")):
        return Adapter.HTTP
    if text.startswith("python:"):
        return Adapter.PYTHON
    path = Path(text)
    if not path.exists():
        raise TargetError(f"target not found (expected {_WHAT})", path=path)
    if path.is_dir():
        return Adapter.KERAS if (path / "saved_model.pb").is_file() else Adapter.TORCH
    if path.suffix.lower() in _SUFFIXES:
        return _SUFFIXES[path.suffix.lower()]
    raise TargetError(f"not a target: expected {_WHAT}", path=path)


def load_target(source: str | Path, contract: Contract | dict[str, Any] | None = None, **options: Any) -> Target:
    """A target from a source string and its contract (see `detect_adapter`); `options` go to the adapter
    (e.g. `device=` for a run directory, `timeout=` for a URL, `max_batch=`)."""
    contract = Contract.coerce(contract)
    adapter = detect_adapter(source)
    if adapter is Adapter.HTTP:
        options.pop("device", None)  # the service runs where it runs
        return HttpTarget(str(source), contract, **options)
    if adapter is Adapter.PYTHON:
        options.pop("device", None)  # a callable runs where its own code puts it
        return PythonTarget(str(source), contract, **options)
    if adapter is Adapter.ONNX:
        return OnnxTarget(source, contract, **options)
    if adapter is Adapter.TFLITE:
        options.pop("device", None)
        return TfliteTarget(source, contract, **options)
    if adapter is Adapter.KERAS:
        options.pop("device", None)
        return KerasTarget(source, contract, **options)
    stated = {k for k, v in contract.given().items() if k != "output" or set(v) - {"threshold"}}
    if stated:
        raise TargetError("a fasrobust checkpoint records its own contract in model.json; only --threshold "
                          f"applies to it (got {', '.join(sorted(_flat(contract.given())))})", path=source)
    return TorchTarget.from_checkpoint(source, threshold=contract.threshold, **options)


def _flat(given: dict[str, Any]) -> list[str]:
    return [f"{part}.{key}" for part, fields in given.items() for key in fields]
