"""What an attack queries: a `Target` maps uint8 (N, H, W, 3) RGB images to P(live) per image.

Adapters own layout, channel order, scaling and output reading (the `contract.Contract`); the base class
validates inputs and outputs, chunks batches, counts queries exactly and holds the threshold.
`load_target(source, contract)` picks the adapter from what each one declares (`adapters.py`: suffixes,
source prefixes, a folder's marker file): a fasrobust run directory, an ONNX, TFLite or Keras file, a
SavedModel, 'python:pkg.mod:function', an http(s) URL, or whatever a plug-in adds. Importing this package
is light: each adapter imports its runtime (torch, onnxruntime, TensorFlow, LiteRT, httpx) only when one
is built, so the command line can list the adapters in its help."""

from importlib import import_module

from .adapters import TARGETS, AdapterInfo, adapter_info, detect_adapter, load_target, register_adapter
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

_LAZY = {"TorchTarget": ".torch_target", "Output": ".torch_target", "OnnxTarget": ".onnx_target",
         "HttpTarget": ".http_target", "PythonTarget": ".python_target", "KerasTarget": ".keras_target",
         "TfliteTarget": ".tflite_target", "Preprocessing": "..models.preprocessing"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["TARGETS", "AdapterInfo", "Channels", "Contract", "Encoding", "HttpTarget", "InputContract", "KerasTarget",
           "Layout", "OnnxTarget", "Output", "OutputContract", "OutputKind", "Preprocessing", "PythonTarget",
           "QueryBudgetExceeded", "RequestKind", "ServiceContract", "Target", "TargetCheck", "TargetSpec",
           "TfliteTarget", "TorchTarget", "adapter_info", "check_target", "detect_adapter", "load_target",
           "register_adapter"]
