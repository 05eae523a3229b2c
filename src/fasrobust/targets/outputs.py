"""The output half of a contract: which of a model's outputs to read and how it becomes P(live).

Resolved once per target (the options first, then the file's metadata, then what the model declares:
its output names and shapes, and the operation that produces the output, e.g. a final sigmoid), then
applied to every answer by `ResolvedOutput.scores`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .contract import OutputContract, OutputKind, contract_error

if TYPE_CHECKING:  # torch is imported where it is used, so declaring adapters stays light
    import torch

#: Rows of a softmax sum to 1 up to this (float16 models included).
_SUM_SLACK = 1e-3
_CLASS_KINDS = (OutputKind.SOFTMAX, OutputKind.LOGITS)


@dataclass(frozen=True)
class ResolvedOutput:
    kind: OutputKind
    name: str | None
    live_index: int | None  # class kinds only
    spoof_score: bool
    classes: int | None = None  # as declared by the model, when it declares it

    @property
    def decision(self) -> bool:
        return self.kind is OutputKind.DECISION

    def describe(self) -> dict[str, Any]:
        if self.decision:
            direction = (f"live iff the top class (or the class index answered) is {self.live_index}"
                         if self.live_index is not None else
                         "live iff the answer is " + ("false" if self.spoof_score else "true"))
            return {"output_name": self.name, "output_kind": self.kind.value, "live_index": self.live_index,
                    "live_direction": direction, "decision": direction + "; answered as 1 (live) or 0 (spoof)"}
        if self.kind in _CLASS_KINDS:
            direction = f"P(live) = class {self.live_index} of {self.classes or 'N'}" + (
                " after a softmax" if self.kind is OutputKind.LOGITS else "")
        elif self.spoof_score:
            direction = "the score means spoof: P(live) = 1 - " + (
                "sigmoid(score)" if self.kind is OutputKind.LOGIT else "score")
        else:
            direction = "P(live) = " + ("sigmoid(score)" if self.kind is OutputKind.LOGIT else "score")
        return {"output_name": self.name, "output_kind": self.kind.value, "live_index": self.live_index,
                "live_direction": direction}

    def scores(self, raw: Any, source: str) -> torch.Tensor:
        """P(live), shape (n,), from one answer of the model."""
        import torch

        # A copy: runtimes hand out read-only buffers, which torch warns about.
        if self.decision:
            return self._decision(raw, source)
        out = raw.float() if isinstance(raw, torch.Tensor) else torch.from_numpy(np.array(raw, dtype=np.float32))
        if self.kind in _CLASS_KINDS:
            return self._class_score(out, source)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.ndim != 1:
            raise contract_error(f"{source}: output {self.name or ''} has shape {tuple(out.shape)}, not one "
                                 f"score per image as --output {self.kind.value} says",
                                 "--output softmax (or logits) with --live-index for class scores", None)
        if self.kind is OutputKind.LOGIT:
            return torch.sigmoid(-out if self.spoof_score else out)
        return 1.0 - out if self.spoof_score else out

    def _decision(self, raw: Any, source: str) -> torch.Tensor:
        """1.0 (live) or 0.0 (spoof) per image, from class indices, booleans or class scores."""
        import torch

        out = raw.detach().cpu().numpy() if isinstance(raw, torch.Tensor) else np.asarray(raw)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.ndim == 2 and out.shape[1] >= 2:  # class scores: the top class is the decision
            index = out.argmax(axis=1)
        elif out.ndim == 1 and out.dtype == np.bool_ and self.live_index is None:
            return torch.from_numpy((out != self.spoof_score).astype(np.float32))
        elif out.ndim == 1:
            if self.live_index is None:
                raise contract_error(f"{source}: output {self.name or ''} holds class indices, and nothing says "
                                     "which is live", "--live-index", None)
            numbers = out.astype(np.float64)
            if not np.isfinite(numbers).all() or (numbers != np.round(numbers)).any():
                raise contract_error(f"{source}: output {self.name or ''} holds {numbers[np.isfinite(numbers)][:1]} "
                                     "and other values that are not class indices, as --output decision says",
                                     "--output logit or probability for a score", None)
            index = numbers.astype(np.int64)
        else:
            raise contract_error(f"{source}: output {self.name or ''} has shape {tuple(out.shape)}, not one "
                                 "decision per image", "--output-name to the decision output", None)
        return torch.from_numpy((index == self.live_index).astype(np.float32))

    def _class_score(self, out: torch.Tensor, source: str) -> torch.Tensor:
        import torch

        if out.ndim != 2 or out.shape[1] < 2:
            raise contract_error(f"{source}: output {self.name or ''} has shape {tuple(out.shape)}, not "
                                 f"(N, classes) as --output {self.kind.value} says",
                                 "--output logit or probability for a single score", None)
        if self.live_index >= out.shape[1]:
            raise contract_error(f"{source}: live index {self.live_index} is out of range for "
                                 f"{out.shape[1]} classes", f"--live-index 0..{out.shape[1] - 1}", None)
        if self.kind is OutputKind.LOGITS:
            return torch.softmax(out, dim=1)[:, self.live_index]
        sums = out.sum(dim=1)
        if (sums - 1).abs().max() > _SUM_SLACK or out.min() < -_SUM_SLACK:
            raise contract_error(f"{source}: output {self.name or ''} rows are not probabilities (they sum to "
                                 f"{sums.min():.4g}..{sums.max():.4g}), as --output softmax says",
                                 "--output logits to have fasrobust apply the softmax", None)
        return out[:, self.live_index]


def _single(shape: Sequence[Any]) -> bool | None:
    """True for one score per image, False for class scores, None when the shape does not say."""
    if len(shape) == 1:
        return True
    if len(shape) == 2 and isinstance(shape[1], int):
        return shape[1] == 1
    return None


def pick_output(names: Sequence[str], wanted: str | None, source: Any) -> int:
    """Index of the output to read: the one named, or the only one."""
    listed = ", ".join(names)
    if wanted is not None:
        if wanted not in names:
            raise contract_error(f"unknown output name {wanted!r} (the model's outputs: {listed})",
                                 f"--output-name to one of {listed}", source)
        return list(names).index(wanted)
    if len(names) > 1:
        raise contract_error(f"the model has {len(names)} outputs ({listed})",
                             f"--output-name to the one that scores liveness ({listed})", source)
    return 0


def resolve_output(contract: OutputContract, *, names: Sequence[str], shapes: Sequence[Sequence[Any]],
                   inferred: Sequence[OutputKind | None] | None = None, meta: Mapping[str, Any] | None = None,
                   source: Any = None) -> tuple[int, ResolvedOutput]:
    """(index of the output to read, how to read it). `inferred[i]` is the kind the model's last operation
    implies for output i (a sigmoid: probability), or None."""
    meta = meta or {}
    index = pick_output(names, contract.output_name, source)
    shape = list(shapes[index])
    single = _single(shape)
    kind = contract.kind or (OutputContract.model_validate({"kind": meta["output"]}).kind
                             if meta.get("output") else None) or (inferred[index] if inferred else None)
    if kind is None:
        options = ("--output logit (a raw score) or --output probability" if single
                   else "--output softmax (class probabilities) or --output logits (class logits), with "
                        "--live-index")
        raise contract_error(f"the model output {names[index]!r} {shape} does not say how to read it", options,
                             source)
    if kind is not OutputKind.DECISION and single is not None and single != (kind not in _CLASS_KINDS):
        what = "one score per image" if single else "class scores"
        raise contract_error(f"output {names[index]!r} has shape {shape} ({what}), which --output "
                             f"{kind.value} cannot read", "--output to match the shape", source)
    classes = shape[1] if kind in _CLASS_KINDS and len(shape) > 1 and isinstance(shape[1], int) else None
    live_index = _live_index(contract, kind, classes, meta, source)
    return index, ResolvedOutput(kind=kind, name=names[index], live_index=live_index,
                                 spoof_score=contract.spoof_score, classes=classes)


def _live_index(contract: OutputContract, kind: OutputKind, classes: int | None, meta: Mapping[str, Any],
                source: Any) -> int | None:
    if kind is OutputKind.DECISION:
        index = contract.live_index if contract.live_index is not None else meta.get("live_index")
        if index is None:
            raise contract_error("--output decision on a model reads a class index (or the top class) per "
                                 "image, and nothing says which class is live", "--live-index", source)
        return int(index)
    if kind not in _CLASS_KINDS:
        if contract.live_index is not None:
            raise contract_error("--live-index names a class, but the output is a single score",
                                 "--output softmax or logits, or drop --live-index", source)
        return None
    index = contract.live_index if contract.live_index is not None else meta.get("live_index")
    if index is None:
        raise contract_error(f"the output has {classes or 'several'} classes and nothing says which is live",
                             "--live-index", source)
    index = int(index)
    if classes is not None and index >= classes:
        raise contract_error(f"live index {index} is out of range for {classes} classes",
                             f"--live-index 0..{classes - 1}", source)
    return index

