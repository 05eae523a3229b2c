"""Shared by the adapters that run a model file on arrays (ONNX, TFLite, Keras): the contract resolved
against what the file declares, the input transform, a fixed batch padded, the output read as P(live).
Each adapter only opens its file, says what the model declares, and runs one array through it."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import TargetError
from .base import Target
from .contract import Contract, FileMetadata, OutputKind
from .inputs import Dim, InputFeeder, resolve_input
from .outputs import resolve_output

if TYPE_CHECKING:  # torch is imported where it is used, so declaring adapters stays light
    import torch

#: Chunk size when the model takes any batch (the torch adapter's CPU measurement).
DEFAULT_MAX_BATCH = 128


@dataclass
class Declared:
    """What a model file declares about itself, as the adapter read it."""

    input_name: str
    input_shape: Sequence[Dim]
    input_dtype: str
    output_names: Sequence[str]
    output_shapes: Sequence[Sequence[Dim]]
    inferred: Sequence[OutputKind | None] = ()  # per output: the kind its last operation implies
    meta: Mapping[str, Any] = field(default_factory=dict)  # contract keys stored in the file

    @property
    def uint8(self) -> bool:
        return "uint8" in self.input_dtype

    @property
    def fixed_batch(self) -> int | None:
        first = self.input_shape[0] if self.input_shape else None
        return first if isinstance(first, int) and first > 0 else None


class ArrayModelTarget(Target):
    """A model file run on numpy arrays. Subclasses open the file, then call `_setup`, and implement `_run`."""

    adapter = "array"

    def _setup(self, declared: Declared, contract: Contract, *, source: Any, max_batch: int | str = "auto",
               query_budget: int | None = None, name: str = "") -> None:
        self.source, self.contract, self.declared = str(source), contract, declared
        meta = FileMetadata.checked(declared.meta, source)
        self.resolved_input = resolve_input(contract.input, shape=declared.input_shape, uint8=declared.uint8,
                                            meta=meta, source=source)
        self._output_index, self.resolved_output = resolve_output(
            contract.output, names=declared.output_names, shapes=declared.output_shapes,
            inferred=declared.inferred, meta=meta, source=source)
        self._feeder = InputFeeder(self.resolved_input)
        fixed = declared.fixed_batch
        if max_batch == "auto":
            max_batch = fixed or DEFAULT_MAX_BATCH
        elif fixed and int(max_batch) != fixed:
            raise TargetError(f"the model takes batches of exactly {fixed}, max_batch={max_batch} cannot be used",
                              path=source)
        self._fixed_batch = fixed
        # With --resize any crop size is taken; without it the base class refuses a crop size mismatch.
        size = None if self.resolved_input.resize else self.resolved_input.input_size
        super().__init__(max_batch=int(max_batch), device="cpu", input_size=size, query_budget=query_budget,
                         name=name, threshold=contract.output.threshold)
        self._decisions = self.resolved_output.decision

    @property
    def output(self) -> OutputKind:
        return self.resolved_output.kind

    @property
    def preprocessing(self):
        return self.resolved_input.preprocessing

    @abstractmethod
    def _run(self, x: np.ndarray) -> np.ndarray:
        """The selected output (index `self._output_index`) for one prepared input array."""

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        import torch

        n = images.shape[0]
        if self._fixed_batch and n < self._fixed_batch:
            # Padding with copies of the last image; their scores are dropped and are not queries.
            pad = images[-1:].expand(self._fixed_batch - n, *images.shape[1:])
            images = torch.cat([images, pad])
        try:
            raw = self._run(self._feeder(images))
        except TargetError:
            raise
        except Exception as exc:  # runtimes raise their own untyped errors; keep every line of the diagnosis
            raise TargetError(f"{self.name}: {self.adapter} failed: {type(exc).__name__}: {exc}") from None
        return self.resolved_output.scores(np.asarray(raw)[:n], self.name)

    def describe(self) -> dict[str, Any]:
        d = self.declared
        return {"adapter": self.adapter, "name": self.name, "source": self.source,
                "inputs": [{"name": d.input_name, "shape": _shape(d.input_shape), "dtype": d.input_dtype}],
                "outputs": [{"name": n, "shape": _shape(s)} for n, s in zip(d.output_names, d.output_shapes,
                                                                            strict=True)],
                **self.resolved_input.describe(), **self.resolved_output.describe(),
                "threshold": self.threshold, "fixed_batch": self._fixed_batch, "max_batch": self.max_batch,
                "contract": self.contract.given()}


def _shape(shape: Sequence[Dim]) -> list[Any]:
    return [d if isinstance(d, int | str) else None for d in shape]
