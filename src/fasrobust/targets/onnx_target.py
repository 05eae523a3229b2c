"""Target adapter for an ONNX file, run with onnxruntime: a model exported from any framework (PyTorch,
TensorFlow via tf2onnx, ...) or a fasrobust checkpoint exported with `fasrobust.models.export.export_onnx`.

The contract (`contract.Contract`), in this order of precedence: the options, then the file's metadata
(`metadata_props`: one key "fasrobust" holding a JSON object, or separate keys "preprocessing" (JSON),
"output", "input_size", "live_index", "layout", "channels"), then the graph itself: the input shape says
NHWC or NCHW when only one of axes 1 and 3 has 3 channels, a uint8 input takes the pixels as they are,
and the operation producing the output says how to read it (a Sigmoid: a probability; a Softmax: class
probabilities; a Gemm, MatMul, Add or Conv: logits). A graph with a fixed batch size gets chunks of that
size; the last chunk is padded and the padding's scores dropped (they are not queries).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TargetError, require
from ..models.preprocessing import Preprocessing
from .adapters import register_adapter
from .array_target import ArrayModelTarget, Declared
from .contract import Contract, OutputKind

_METADATA_KEYS = ("preprocessing", "output", "input_size", "live_index", "layout", "channels")
#: Operations that only move values around: the output's meaning is that of the op before them.
_PASS_THROUGH = {"Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Transpose", "Gather", "Slice",
                 "Cast", "Concat"}
_LINEAR = {"Gemm", "MatMul", "Add", "Conv", "Sub", "ReduceMean", "GlobalAveragePool"}


def read_metadata(session: Any) -> dict[str, Any]:
    """The contract stored in an ONNX file's metadata_props (empty if it has none)."""
    props = dict(session.get_modelmeta().custom_metadata_map)
    found: dict[str, Any] = {}
    if "fasrobust" in props:
        try:
            found.update(json.loads(props["fasrobust"]))
        except json.JSONDecodeError:
            raise TargetError("ONNX metadata 'fasrobust' is not valid JSON") from None
    for key in _METADATA_KEYS:
        if key in props:
            value = props[key]
            try:
                found[key] = value if key in ("output", "layout", "channels") else json.loads(value)
            except json.JSONDecodeError:
                raise TargetError(f"ONNX metadata {key!r} is not valid JSON: {value[:60]!r}") from None
    return {k: found[k] for k in _METADATA_KEYS if found.get(k) is not None}


def infer_output_kinds(path: Path, names: Sequence[str], shapes: Sequence[Sequence[Any]]) -> list[OutputKind | None]:
    """Per output, the kind its producing operation implies, or None when the graph does not say."""
    try:
        onnx = require("onnx", "onnx", "Reading an ONNX graph")
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception:  # no onnx package, or a graph only onnxruntime reads: the options must say
        return [None] * len(names)
    producer = {out: node for node in graph.node for out in node.output}
    kinds: list[OutputKind | None] = []
    for name, shape in zip(names, shapes, strict=True):
        node = producer.get(name)
        while node is not None and node.op_type in _PASS_THROUGH and node.input:
            node = producer.get(node.input[0])
        single = len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)
        classes = len(shape) == 2 and isinstance(shape[1], int) and shape[1] > 1
        op = node.op_type if node is not None else None
        if op == "Sigmoid" and single:
            kinds.append(OutputKind.PROBABILITY)
        elif op == "Softmax":
            kinds.append(OutputKind.SOFTMAX if classes else OutputKind.PROBABILITY if single else None)
        elif op in _LINEAR:
            kinds.append(OutputKind.LOGIT if single else OutputKind.LOGITS if classes else None)
        else:
            kinds.append(None)
    return kinds


def _providers(ort: Any, device: str) -> list[str]:
    available = ort.get_available_providers()
    preferred = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}
    wanted = preferred.get(device.split(":")[0], ["CUDAExecutionProvider", "CPUExecutionProvider"])
    return [p for p in wanted if p in available] or list(available)


def _legacy(contract: Contract, preprocessing: Preprocessing | Mapping[str, Any] | None, output: Any,
            live_index: int | None, input_size: int | None) -> Contract:
    """The keyword arguments OnnxTarget took before contracts existed, folded into the contract."""
    inputs, outputs = {}, {}
    if preprocessing is not None:
        p = preprocessing.to_dict() if isinstance(preprocessing, Preprocessing) else dict(preprocessing)
        inputs.update(scale=p["scale"], mean=p["mean"], std=p["std"])
    if input_size is not None:
        inputs["input_size"] = input_size
    if output is not None:
        outputs["kind"] = str(getattr(output, "value", output))
    if live_index is not None:
        outputs["live_index"] = live_index
    if not inputs and not outputs:
        return contract
    data = contract.model_dump()
    data["input"].update(inputs)
    data["output"].update(outputs)
    return Contract.build(data)


@register_adapter("onnx", description="an ONNX model, run with onnxruntime (the onnx extra)", suffixes=(".onnx",),
                  takes_device=True, option="onnx")
class OnnxTarget(ArrayModelTarget):
    """Scores images with an ONNX model through onnxruntime (CPU, or CUDA when asked and available)."""


    def __init__(self, path: str | Path, contract: Contract | Mapping[str, Any] | None = None, *,
                 providers: Sequence[str] | None = None, device: str = "auto",
                 preprocessing: Preprocessing | Mapping[str, Any] | None = None, output: Any = None,
                 live_index: int | None = None, input_size: int | None = None, max_batch: int | str = "auto",
                 query_budget: int | None = None, name: str = ""):
        ort = require("onnxruntime", "onnx", "Attacking an ONNX model")
        self.path = Path(path)
        if not self.path.is_file():
            raise TargetError("ONNX file not found", path=self.path)
        contract = _legacy(Contract.coerce(contract), preprocessing, output, live_index, input_size)
        try:
            self.session = ort.InferenceSession(str(self.path), providers=list(providers or _providers(ort, device)))
        except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable files
            raise TargetError(f"onnxruntime cannot load it: {exc}", path=self.path) from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1:
            raise TargetError(f"expected a graph with one input, found {len(inputs)}", path=self.path)
        names, shapes = [o.name for o in outputs], [list(o.shape) for o in outputs]
        declared = Declared(input_name=inputs[0].name, input_shape=list(inputs[0].shape),
                            input_dtype=inputs[0].type, output_names=names, output_shapes=shapes,
                            inferred=infer_output_kinds(self.path, names, shapes),
                            meta=read_metadata(self.session))
        self._setup(declared, contract, source=self.path, max_batch=max_batch, query_budget=query_budget,
                    name=name or f"onnx:{self.path.name}")

    def _run(self, x: np.ndarray) -> np.ndarray:
        name = self.declared.output_names[self._output_index]
        (out,) = self.session.run([name], {self.declared.input_name: x})
        return out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "providers": self.session.get_providers()}

    def close(self) -> None:
        self.session = None  # onnxruntime frees the session when the last reference goes

    def __repr__(self) -> str:
        return f"OnnxTarget({str(self.path)!r}, output={self.output.value!r}, max_batch={self.max_batch})"
