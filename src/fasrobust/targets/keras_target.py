"""Target adapter for Keras and TensorFlow files: `.keras` (Keras 3), legacy `.h5`, and SavedModel
directories (their 'serving_default' signature). The paper's own models were Keras models; every Keras
export is NHWC float, usually with the scaling outside the model (so `--scale` is asked for).

A `.keras` file is loaded with `safe_mode=True` (no arbitrary code from Lambda layers) and `compile=False`.
The last layer's activation says how to read a single output (sigmoid: a probability; softmax: class
probabilities; linear: logits); a SavedModel's outputs say nothing, so `--output` is asked for there.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TargetError, require
from .adapters import register_adapter
from .array_target import ArrayModelTarget, Declared
from .contract import Contract, OutputKind
from .graph_check import check_saved_model

_ACTIVATIONS = {"sigmoid": (OutputKind.PROBABILITY, None), "softmax": (None, OutputKind.SOFTMAX),
                "linear": (OutputKind.LOGIT, OutputKind.LOGITS)}


def _dims(shape: Any) -> list[int | None]:
    return [None if d is None else int(d) for d in shape]


def _kind_from_activation(layer: Any, shape: list[int | None]) -> OutputKind | None:
    activation = getattr(getattr(layer, "activation", None), "__name__", None)
    single, classes = _ACTIVATIONS.get(activation, (None, None))
    if len(shape) == 1 or (len(shape) == 2 and shape[1] == 1):
        return single
    return classes if len(shape) == 2 and shape[1] else None


@register_adapter("keras", description="a Keras .keras / .h5 file or a TensorFlow SavedModel folder (the keras "
                  "or mtcnn extra)", suffixes=(".keras", ".h5", ".hdf5"), marker="saved_model.pb", option="keras")
class KerasTarget(ArrayModelTarget):
    """Scores images with a Keras model or a TensorFlow SavedModel, on the CPU or GPU TensorFlow picks."""

    @classmethod
    def fingerprint(cls, source: str) -> str:
        """A SavedModel is named by its graph and its variables; a file by its hash."""
        from ..provenance import file_sha256

        path = Path(source)
        if not path.is_dir():
            return super().fingerprint(source)
        files = [path / "saved_model.pb", *sorted((path / "variables").glob("*"))]
        return f"{cls.adapter}:" + "".join(file_sha256(f)[:8] for f in files if f.is_file())[:16]


    def __init__(self, path: str | Path, contract: Contract | Mapping[str, Any] | None = None, *,
                 max_batch: int | str = "auto", query_budget: int | None = None, name: str = "",
                 trust_model: bool = False):
        self.path = Path(path)
        self.trusted = bool(trust_model)
        self._tf = require("tensorflow", "keras", "Attacking a Keras or TensorFlow model")
        if self.path.is_dir():
            declared = self._open_saved_model()
        elif self.path.is_file():
            declared = self._open_keras()
        else:
            raise TargetError("Keras file or SavedModel directory not found", path=self.path)
        self._setup(declared, Contract.coerce(contract), source=self.path, max_batch=max_batch,
                    query_budget=query_budget, name=name or f"keras:{self.path.name}")

    def _open_keras(self) -> Declared:
        keras = require("keras", "keras", "Attacking a Keras model")
        try:
            self.model = keras.saving.load_model(str(self.path), compile=False, safe_mode=True)
        except Exception as exc:  # Keras raises many types for unreadable or unsafe files
            raise TargetError(f"Keras cannot load it: {type(exc).__name__}: {exc}", path=self.path) from None
        if len(self.model.inputs) != 1:
            raise TargetError(f"expected a model with one input, found {len(self.model.inputs)}", path=self.path)
        tensor = self.model.inputs[0]
        shapes = [_dims(o.shape) for o in self.model.outputs]
        names = list(getattr(self.model, "output_names", None) or [o.name for o in self.model.outputs])
        inferred = [_kind_from_activation(self.model.layers[-1], shapes[0])] if len(shapes) == 1 else []
        self._call = self._call_keras
        return Declared(input_name=tensor.name, input_shape=_dims(tensor.shape), input_dtype=str(tensor.dtype),
                        output_names=names, output_shapes=shapes, inferred=inferred)

    def _open_saved_model(self) -> Declared:
        if not self.trusted:  # before TensorFlow loads (and so runs) anything of it
            check_saved_model(self.path)
        try:
            loaded = self._tf.saved_model.load(str(self.path))
            self._signature = loaded.signatures["serving_default"]
        except Exception as exc:  # a directory that is not a SavedModel, or one without a serving signature
            raise TargetError(f"TensorFlow cannot load its 'serving_default' signature: {type(exc).__name__}: "
                              f"{exc}", path=self.path) from None
        self._loaded = loaded  # the signature's variables live as long as the loaded object
        inputs = self._signature.structured_input_signature[1]
        if len(inputs) != 1:
            raise TargetError(f"expected a signature with one input, found {len(inputs)}", path=self.path)
        (input_name, spec), = inputs.items()
        outputs = self._signature.structured_outputs
        self._call = self._call_signature
        return Declared(input_name=input_name, input_shape=_dims(spec.shape), input_dtype=spec.dtype.name,
                        output_names=list(outputs), output_shapes=[_dims(s.shape) for s in outputs.values()])

    def _call_keras(self, x: np.ndarray) -> np.ndarray:
        out = self.model(x, training=False)
        out = out[self._output_index] if isinstance(out, list | tuple) else out
        if isinstance(out, dict):
            out = out[self.declared.output_names[self._output_index]]
        return out.numpy() if hasattr(out, "numpy") else np.asarray(out)

    def _call_signature(self, x: np.ndarray) -> np.ndarray:
        out = self._signature(**{self.declared.input_name: self._tf.constant(x)})
        return out[self.declared.output_names[self._output_index]].numpy()

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self._call(x)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), **({"trusted_model": True} if self.trusted else {})}

    def __repr__(self) -> str:
        return f"KerasTarget({str(self.path)!r}, output={self.output.value!r}, max_batch={self.max_batch})"
