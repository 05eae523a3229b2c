"""A target behind defences (defence stage): `DefendedTarget` wraps any `Target` (torch, ONNX, TFLite,
Python, HTTP) with one defence and is a Target itself, so defences stack and an attack queries the whole
pipeline as a black box, adapting to any deterministic transform by construction.

Counting: `queries` counts queries of the defended system, one per image asked about, as for any
target; the wrapped target counts its own, so `model_queries` (the innermost model's count) and
`model_calls_per_query` (smoothing's n, the squeezing detector's 1 + 2, multiplied through the stack) are
exact.

`defend(target, stack)` builds the pipeline a stack describes (see stack.py for the order).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..targets.base import Target
from .base import Defence, build_defence
from .settings_model import DefenceSettings
from .stack import describe_stack, parse_defence, stack_json

if TYPE_CHECKING:  # torch is imported where it is used, so declaring adapters stays light
    import torch

DefenceLike = Defence | DefenceSettings | str | Mapping[str, Any]


class DefendedTarget(Target):
    """`inner` behind `defence`: its threshold (a majority vote's 0.5 excepted), input size and device;
    `max_batch` divided by the defence's calls per query, so a chunk's inner batch stays within the
    inner `max_batch`. `undefended` is the model at the bottom of the stack; `describe()` gives the whole
    stack once and that model's own description as "inner"."""

    def __init__(self, inner: Target, defence: DefenceLike, *, name: str = ""):
        if not isinstance(inner, Target):
            raise ConfigError(f"a defence wraps a fasrobust Target, got {type(inner).__name__}")
        self.defence = defence if isinstance(defence, Defence) else build_defence(parse_defence(defence))
        if inner.deployed is not inner:
            raise ConfigError(f"defence {self.defence.name!r}: wrap the deployed pipeline, not an attacker's view "
                              f"of it ({inner.name})")
        self.inner = inner
        inner_stack = inner.stack if isinstance(inner, DefendedTarget) else ()
        # Listed in the order the image meets it: a defence sees the image before the ones it wraps.
        self.stack = (self.defence.config, *inner_stack)
        self.undefended: Target = inner.undefended if isinstance(inner, DefendedTarget) else inner
        super().__init__(max_batch=max(1, inner.max_batch // self.defence.calls_per_query), device=inner.device,
                         input_size=inner.input_size, threshold=self.defence.threshold(inner.threshold),
                         name=name or f"{self.undefended.name} [{describe_stack(self.stack)}]")

    @property
    def model_calls_per_query(self) -> int:  # type: ignore[override]
        return self.defence.calls_per_query * self.inner.model_calls_per_query

    @property
    def model_queries(self) -> int:
        return self.inner.model_queries

    @property
    def randomized(self) -> bool:  # type: ignore[override]
        return self.defence.randomized or self.inner.randomized

    @property
    def answers_decisions(self) -> bool:
        return self._label_only or self.inner.answers_decisions

    def reset_queries(self) -> None:
        super().reset_queries()
        self.inner.reset_queries()

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        return self.defence.score(self.inner, images)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "adapter": "defended", "defences": stack_json(self.stack),
                "stack": describe_stack(self.stack), "randomized": self.randomized,
                "model_calls_per_query": self.model_calls_per_query, "inner": self.undefended.describe()}

    def close(self) -> None:
        self.inner.close()

    def __repr__(self) -> str:
        return f"DefendedTarget({self.inner!r}, {self.defence!r})"


def defend(target: Target, stack: Iterable[DefenceLike] | None) -> Target:
    """`target` behind a stack listed in the order the image meets it (`["median:3", "jpeg:75"]`:
    median filter, then JPEG, then the model). An empty stack is the target itself."""
    # A given Defence object is kept as it is (a caller may hold its seeded generator); the rest are built.
    defences = [item if isinstance(item, Defence) else build_defence(parse_defence(item)) for item in stack or ()]
    for defence in reversed(defences):  # the first listed is outermost: it sees the image first
        target = DefendedTarget(target, defence)
    return target
