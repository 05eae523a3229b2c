"""Target adapter for any Python callable: 'python:package.module:function' names a function that takes a
uint8 (n, H, W, 3) RGB numpy batch and returns n scores. A model with exotic outputs (several heads
combined, a face detector first, a remote SDK) is then a few lines of the user's own code.

The contract's output part still applies (`--output logit`, `--spoof-score`, `--threshold`), and of the
input part the channel order, the input size and `--resize`; layout and scaling are the callable's own.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import TargetError
from .adapters import register_adapter
from .base import Target
from .contract import Channels, Contract, InputContract, Layout, OutputKind
from .inputs import InputFeeder, ResolvedInput
from .outputs import ResolvedOutput

if TYPE_CHECKING:  # torch is imported where it is used, so declaring adapters stays light
    import torch

PREFIX = "python:"


def import_callable(reference: str) -> Callable[[np.ndarray], Any]:
    """'package.module:function' (or 'python:package.module:function') -> the function. The current
    directory is searched too, so a module next to the user's data just works."""
    text = reference.removeprefix(PREFIX)
    module_name, _, attribute = text.partition(":")
    if not module_name or not attribute:
        raise TargetError(f"{reference!r} is not 'python:package.module:function'; name the module and the "
                          "function, e.g. python:mymodels.liveness:score")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TargetError(f"{reference}: cannot import module {module_name!r} ({exc}); is it installed or in "
                          "the current directory?") from None
    func: Any = module
    for part in attribute.split("."):
        func = getattr(func, part, None)
    if not callable(func):
        raise TargetError(f"{reference}: module {module_name!r} has no callable {attribute!r}")
    return func


def _resolve_input(contract: InputContract, source: str) -> ResolvedInput:
    for option in ("layout", "scale", "mean", "std"):
        if getattr(contract, option) is not None:
            raise TargetError(f"{source}: --{option} does not apply to a Python callable (it gets uint8 NHWC "
                              "pixels and scales them itself); drop it")
    if contract.resize and contract.input_size is None:
        raise TargetError(f"{source}: --resize needs the size to resize to; set --input-size")
    return ResolvedInput(layout=Layout.NHWC, channels=contract.channels or Channels.RGB, uint8=True,
                         preprocessing=None, input_size=contract.input_size, resize=contract.resize)


@register_adapter("python", description="a Python callable: uint8 (N, H, W, 3) RGB in, N scores out",
                  prefixes=(PREFIX,), option="python")
class PythonTarget(Target):
    """Scores images by calling a Python function on uint8 NHWC numpy batches of at most `max_batch`."""

    @classmethod
    def fingerprint(cls, source: str) -> str:
        return f"python:{source.removeprefix(PREFIX)}"

    def __init__(self, func: Callable[[np.ndarray], Any] | str, contract: Contract | Mapping[str, Any] | None = None,
                 *, max_batch: int = 256, query_budget: int | None = None, name: str = ""):
        self.source = func if isinstance(func, str) else f"{PREFIX}{func.__module__}:{func.__qualname__}"
        self.func = import_callable(func) if isinstance(func, str) else func
        self.contract = contract = Contract.coerce(contract)
        self.resolved_input = _resolve_input(contract.input, self.source)
        out = contract.output
        if out.output_name is not None:
            raise TargetError(f"{self.source}: --output-name does not apply to a Python callable (it returns "
                              "one array); drop it")
        kind = out.kind or OutputKind.PROBABILITY  # the documented contract: the callable returns P(live)
        if kind in (OutputKind.SOFTMAX, OutputKind.LOGITS) and out.live_index is None:
            raise TargetError(f"{self.source}: --output {kind.value} needs the live class; set --live-index")
        self.resolved_output = ResolvedOutput(kind=kind, name=None, live_index=out.live_index,
                                              spoof_score=out.spoof_score)
        self._feeder = InputFeeder(self.resolved_input)
        size = None if contract.input.resize else contract.input.input_size
        super().__init__(max_batch=max_batch, device="cpu", input_size=size, query_budget=query_budget,
                         name=name or self.source, threshold=out.threshold)
        self._decisions = kind is OutputKind.DECISION

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        # A copy: a callable that writes into its batch must not change the attack's pixels (and a
        # writable array keeps torch.from_numpy quiet in the user's code).
        import torch

        batch = np.array(self._feeder(images), copy=True)
        try:
            raw = self.func(batch)
        except TargetError:
            raise
        except Exception as exc:  # the user's code: say where it failed, in one line
            raise TargetError(f"{self.name}: the callable raised {type(exc).__name__}: {exc}") from None
        if isinstance(raw, torch.Tensor):
            raw = raw.detach().cpu().numpy()
        try:
            raw = np.asarray(raw) if self._decisions else np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError):
            raise TargetError(f"{self.name}: the callable returned {type(raw).__name__}, not numbers; it must "
                              f"return {len(batch)} P(live) scores for a batch of {len(batch)}") from None
        expected_single = self.resolved_output.kind in (OutputKind.LOGIT, OutputKind.PROBABILITY, OutputKind.DECISION)
        if expected_single and raw.shape not in ((len(batch),), (len(batch), 1)):
            raise TargetError(f"{self.name}: the callable returned shape {raw.shape} for a batch of "
                              f"{len(batch)} images; it must return ({len(batch)},) scores, one per image")
        return self.resolved_output.scores(raw, self.name)

    def describe(self) -> dict[str, Any]:
        return {"adapter": "python", "name": self.name, "source": self.source,
                "inputs": [{"name": "images", "shape": ["N", self.resolved_input.input_size,
                                                         self.resolved_input.input_size, 3], "dtype": "uint8"}],
                "outputs": [{"name": "return value", "shape": ["N"]}],
                **self.resolved_input.describe(), **self.resolved_output.describe(),
                "threshold": self.threshold, "max_batch": self.max_batch, "contract": self.contract.given()}

    def __repr__(self) -> str:
        return f"PythonTarget({self.source!r}, max_batch={self.max_batch})"
