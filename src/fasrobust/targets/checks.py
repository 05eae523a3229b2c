"""Sanity checks on a target before attacking it, so that an attack result means what it says.

An attack compares scores of many candidate images, scored in big batches: if the target answers the
same image differently twice, or differently depending on what else is in the batch (a model left in
train mode, batch statistics), a "successful" perturbation may be noise. `check_target` asks a few
images twice and one at a time; its queries are not added to the target's count or budget.

A randomized target (randomized smoothing) answers differently by design: only its shapes and ranges are
checked. Through a defence stack, the counts and budgets of every wrapped target are kept as they were.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import TargetError
from .base import Target

if TYPE_CHECKING:  # torch is imported where it is used, so declaring adapters stays light
    pass


@dataclass(frozen=True)
class TargetCheck:
    """What `check_target` measured."""

    images: int
    max_repeat_diff: float  # same batch twice
    max_batch_diff: float  # batch vs one image at a time
    constant: bool  # every image got the same score
    warnings: list[str] = field(default_factory=list)


def _chain(target: Target) -> list[Target]:
    """The target and every target it wraps (a defence keeps the one it wraps as `inner`)."""
    chain = [target]
    while isinstance(getattr(chain[-1], "inner", None), Target):
        chain.append(chain[-1].inner)
    return chain


def _module_in_train_mode(target: Target) -> bool:
    from torch import nn

    modules = [getattr(t, "module", None) for t in _chain(target)]
    return any(isinstance(m, nn.Module) and any(x.training for x in m.modules()) for m in modules)


def check_target(target: Target, images: np.ndarray, *, limit: int = 8, atol: float = 1e-6,
                 batch_atol: float = 1e-4, strict: bool = False) -> TargetCheck:
    """Check the target on up to `limit` of `images` (uint8 (N, H, W, 3)).

    Raises TargetError when a torch module is in train mode, when outputs are not probabilities (the
    target's own validation) or when the same batch scored twice differs by more than `atol`
    ("nondeterministic"). Warns (RuntimeWarning) when batch and per-image scores differ by more than
    `batch_atol`, and when
    every image gets the same score; `strict=True` turns those warnings into TargetErrors.
    """
    if _module_in_train_mode(target):
        raise TargetError(f"{target.name}: the torch module is in train mode; call module.eval() "
                          "(dropout and batch statistics make scores depend on the batch)")
    images = np.asarray(images)[:limit]
    chain = _chain(target)
    saved = [(t.queries, t.query_budget) for t in chain]
    for t in chain:
        t.query_budget = None  # the checks must not spend the attack's budget
    try:
        first = np.asarray(target(images), dtype=np.float64)
        if target.randomized:  # fresh noise each call: a repeat or a one-at-a-time score differs by design
            second = single = first
        else:
            second = np.asarray(target(images), dtype=np.float64)
            single = np.concatenate([np.asarray(target(images[i:i + 1]), dtype=np.float64)
                                     for i in range(len(images))])
    finally:
        # Same package as Target: restoring the counts directly keeps the checks invisible to the attack.
        for t, (queries, budget) in zip(chain, saved, strict=True):
            t._queries, t.query_budget = queries, budget
    repeat = float(np.max(np.abs(first - second)))
    if repeat > atol:
        raise TargetError(f"{target.name}: nondeterministic: the same {len(images)} images scored twice differ "
                          f"by up to {repeat:.3g} (tolerance {atol:g}); attack results would be noise")
    batch = float(np.max(np.abs(first - single)))
    problems = []
    if batch > batch_atol:
        problems.append(f"scores depend on the batch: batch vs one-at-a-time differ by up to {batch:.3g} "
                        f"(tolerance {batch_atol:g})")
    # A decision target answers the same for every spoof it catches: no sign of a broken model.
    constant = len(images) > 1 and float(np.ptp(first)) == 0.0 and not target.answers_decisions
    if constant:
        problems.append(f"every image scored exactly {first[0]:.6g}; the model may ignore its input")
    for problem in problems:
        if strict:
            raise TargetError(f"{target.name}: {problem}")
        warnings.warn(f"{target.name}: {problem}", RuntimeWarning, stacklevel=2)
    return TargetCheck(images=len(images), max_repeat_diff=repeat, max_batch_diff=batch,
                       constant=constant, warnings=problems)
