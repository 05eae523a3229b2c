"""Target adapter for an ONNX file, run with onnxruntime: the way to attack a model exported from any
framework, or a fasrobust checkpoint exported with `fasrobust.models.export.export_onnx`.

Input contract, in this order of precedence: the keyword arguments, then the file's metadata
(`metadata_props`, either one key "fasrobust" holding a JSON object, or separate keys "preprocessing"
(JSON), "output", "input_size", "live_index"), then the graph itself:
- a uint8 input is fed the images as they are (NHWC, or NCHW if its shape says 3 channels second);
  preprocessing then lives in the graph;
- a float input is fed (x * scale - mean) / std, NCHW, computed exactly as `TorchTarget` does, so the
  two adapters agree to float rounding on the same model.
A graph with a fixed batch size gets chunks of that size; the last chunk is padded and the padding's
scores dropped (they are not queries).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import TargetError, require
from ..models.preprocessing import Preprocessing
from .base import Target
from .torch_target import CPU_MAX_BATCH, InputTransform, Output, as_preprocessing, scores_from_output

_METADATA_KEYS = ("preprocessing", "output", "input_size", "live_index")


def read_metadata(session: Any) -> dict[str, Any]:
    """The input contract stored in an ONNX file's metadata_props (empty if it has none)."""
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
                found[key] = json.loads(value) if key != "output" else value
            except json.JSONDecodeError:
                raise TargetError(f"ONNX metadata {key!r} is not valid JSON: {value[:60]!r}") from None
    return {k: found[k] for k in _METADATA_KEYS if found.get(k) is not None}


def _default_providers(ort: Any) -> list[str]:
    available = ort.get_available_providers()
    preferred = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return [p for p in preferred if p in available] or list(available)


class OnnxTarget(Target):
    """Scores images with an ONNX model through onnxruntime (CPU or CUDA execution provider)."""

    def __init__(self, path: str | Path, *, providers: Sequence[str] | None = None,
                 preprocessing: Preprocessing | Mapping[str, Any] | None = None,
                 output: Output | str | None = None, live_index: int | None = None,
                 input_size: int | None = None, max_batch: int | str = "auto",
                 query_budget: int | None = None, name: str = ""):
        ort = require("onnxruntime", "onnx", "Attacking an ONNX model")
        self.path = Path(path)
        if not self.path.is_file():
            raise TargetError("ONNX file not found", path=self.path)
        try:
            self.session = ort.InferenceSession(str(self.path),
                                                providers=list(providers or _default_providers(ort)))
        except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable files
            raise TargetError(f"onnxruntime cannot load it: {str(exc).splitlines()[0]}", path=self.path) from None
        meta = read_metadata(self.session)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1:
            raise TargetError(f"expected a graph with one input, found {len(inputs)}", path=self.path)
        self._input = inputs[0]
        self._output_name = outputs[0].name
        self._uint8 = self._input.type == "tensor(uint8)"
        shape = list(self._input.shape)
        if len(shape) != 4:
            raise TargetError(f"graph input {self._input.name!r} has shape {shape}, expected 4-D images",
                              path=self.path)
        # Float input is the model's own (N, 3, S, S); uint8 input is NHWC unless its shape says 3 channels second.
        self._nchw = shape[1] == 3 and shape[3] != 3 if self._uint8 else True
        self._fixed_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        if input_size is None:
            input_size = meta.get("input_size") or next(
                (d for d in (shape[2:] if self._nchw else shape[1:3]) if isinstance(d, int)), None)
        if max_batch == "auto":
            max_batch = self._fixed_batch or CPU_MAX_BATCH
        elif self._fixed_batch and int(max_batch) != self._fixed_batch:
            raise TargetError(f"the graph takes batches of exactly {self._fixed_batch}, "
                              f"max_batch={max_batch} cannot be used", path=self.path)
        super().__init__(max_batch=int(max_batch), device="cpu", input_size=input_size,
                         query_budget=query_budget, name=name or f"onnx:{self.path.name}")
        if not self._uint8 and preprocessing is None and "preprocessing" not in meta:
            raise TargetError("the graph takes float input but neither its metadata nor the call gives the "
                              "preprocessing; pass preprocessing={'scale', 'mean', 'std'}", path=self.path)
        self.preprocessing = as_preprocessing(
            preprocessing if preprocessing is not None else meta.get("preprocessing"))
        self.output = Output.parse(output if output is not None else meta.get("output", Output.LOGIT.value))
        self.live_index = int(live_index if live_index is not None else meta.get("live_index", 1))
        self._transform = InputTransform(self.preprocessing, self.device, torch.float32, channels_last=False)

    def describe(self) -> dict[str, Any]:
        return {"kind": "onnx", "name": self.name, "path": str(self.path), "input_size": self.input_size,
                "output": self.output.value, "input_type": self._input.type,
                "preprocessing": None if self._uint8 else self.preprocessing.to_dict(),
                "providers": self.session.get_providers(), "max_batch": self.max_batch}

    def _feed(self, images: torch.Tensor) -> np.ndarray:
        if self._uint8:
            x = images.permute(0, 3, 1, 2) if self._nchw else images
            return np.ascontiguousarray(x.numpy())
        # Same op as TorchTarget, so both adapters see bit-identical inputs.
        return self._transform(images).contiguous().numpy()

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        n = images.shape[0]
        if self._fixed_batch and n < self._fixed_batch:
            pad = images[-1:].expand(self._fixed_batch - n, *images.shape[1:])
            images = torch.cat([images, pad])
        try:
            (out,) = self.session.run([self._output_name], {self._input.name: self._feed(images)})
        except Exception as exc:  # e.g. an input size the graph cannot take
            raise TargetError(f"{self.name}: onnxruntime failed: {str(exc).splitlines()[0]}") from None
        return scores_from_output(torch.from_numpy(np.asarray(out))[:n], self.output, self.live_index)

    def close(self) -> None:
        self.session = None  # onnxruntime frees the session when the last reference goes

    def __repr__(self) -> str:
        return f"OnnxTarget({str(self.path)!r}, output={self.output.value!r}, max_batch={self.max_batch})"
