"""Target adapter for a TensorFlow Lite file, run with LiteRT (`ai-edge-litert`, the `tflite` extra) or,
when that is absent, TensorFlow's own `tf.lite.Interpreter`.

A dynamic batch (shape signature -1) is resized to each chunk; a fixed batch (often 1) is padded. A
uint8 input takes the pixels as they are; a quantised output is dequantised with its scale and zero
point. The operation producing the output says how to read it (LOGISTIC: a probability; SOFTMAX: class
probabilities; FULLY_CONNECTED, ADD, CONV_2D: logits).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingExtraError, TargetError, require
from .adapters import register_adapter
from .array_target import ArrayModelTarget, Declared
from .contract import Contract, OutputKind

_PASS_THROUGH = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "DEQUANTIZE", "QUANTIZE", "GATHER", "SLICE",
                 "STRIDED_SLICE", "CAST", "TRANSPOSE"}
_LINEAR = {"FULLY_CONNECTED", "ADD", "CONV_2D", "MEAN", "SUB", "BATCH_MATMUL"}


def interpreter_class() -> Any:
    """LiteRT's Interpreter, else TensorFlow's; a one-line error naming the extra when neither is there."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:
        return require("tensorflow", "tflite", "Attacking a TFLite model").lite.Interpreter
    except MissingExtraError:
        raise MissingExtraError("ai_edge_litert", "tflite", "Attacking a TFLite model") from None


def _infer(ops: list[dict[str, Any]], index: int, shape: list[int | None]) -> OutputKind | None:
    producer = {int(t): op for op in ops for t in op["outputs"]}
    op = producer.get(index)
    while op is not None and op["op_name"] in _PASS_THROUGH and len(op["inputs"]):
        op = producer.get(int(op["inputs"][0]))
    name = op["op_name"] if op is not None else None
    single = len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)
    classes = len(shape) == 2 and bool(shape[1]) and shape[1] > 1
    if name == "LOGISTIC" and single:
        return OutputKind.PROBABILITY
    if name == "SOFTMAX":
        return OutputKind.SOFTMAX if classes else OutputKind.PROBABILITY if single else None
    if name in _LINEAR:
        return OutputKind.LOGIT if single else OutputKind.LOGITS if classes else None
    return None


def _signature(detail: Mapping[str, Any]) -> list[int | None]:
    shape = detail.get("shape_signature")
    shape = detail["shape"] if shape is None or not len(shape) else shape
    return [None if int(d) < 0 else int(d) for d in shape]


@register_adapter("tflite", description="a TensorFlow Lite model (the tflite extra)", suffixes=(".tflite",),
                  option="tflite")
class TfliteTarget(ArrayModelTarget):
    """Scores images with a .tflite model on the CPU."""


    def __init__(self, path: str | Path, contract: Contract | Mapping[str, Any] | None = None, *,
                 max_batch: int | str = "auto", num_threads: int | None = None, query_budget: int | None = None,
                 name: str = ""):
        self.path = Path(path)
        if not self.path.is_file():
            raise TargetError("TFLite file not found", path=self.path)
        try:
            self.interpreter = interpreter_class()(model_path=str(self.path), num_threads=num_threads)
        except MissingExtraError:
            raise
        except Exception as exc:  # the interpreter's own errors for files it cannot read
            raise TargetError(f"the TFLite interpreter cannot load it: {exc}", path=self.path) from None
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1:
            raise TargetError(f"expected a model with one input, found {len(inputs)}", path=self.path)
        self._in = inputs[0]
        if np.dtype(self._in["dtype"]) not in (np.float32, np.uint8):
            raise TargetError(f"the model input is {np.dtype(self._in['dtype']).name}; fasrobust feeds float32 "
                              "or uint8 (convert with float or uint8 input)", path=self.path)
        self._outs = outputs
        shapes = [_signature(o) for o in outputs]
        ops = self.interpreter._get_ops_details() if hasattr(self.interpreter, "_get_ops_details") else []
        declared = Declared(input_name=self._in["name"], input_shape=_signature(self._in),
                            input_dtype=np.dtype(self._in["dtype"]).name,
                            output_names=[o["name"] for o in outputs], output_shapes=shapes,
                            inferred=[_infer(ops, int(o["index"]), s) for o, s in zip(outputs, shapes, strict=True)])
        self._shape: tuple[int, ...] | None = None
        self._setup(declared, Contract.coerce(contract), source=self.path, max_batch=max_batch,
                    query_budget=query_budget, name=name or f"tflite:{self.path.name}")

    def _run(self, x: np.ndarray) -> np.ndarray:
        if x.shape != self._shape:  # size the tensors to this chunk (a fixed batch keeps its one size)
            if self._fixed_batch is None:
                self.interpreter.resize_tensor_input(self._in["index"], list(x.shape))
            self.interpreter.allocate_tensors()
            self._shape = x.shape
        self.interpreter.set_tensor(self._in["index"], x)
        self.interpreter.invoke()
        detail = self._outs[self._output_index]
        out = self.interpreter.get_tensor(detail["index"]).copy()
        scale, zero = detail.get("quantization", (0.0, 0))
        return (out.astype(np.float32) - zero) * scale if scale else out

    def close(self) -> None:
        self.interpreter = None

    def __repr__(self) -> str:
        return f"TfliteTarget({str(self.path)!r}, output={self.output.value!r}, max_batch={self.max_batch})"
