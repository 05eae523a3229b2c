"""What every attack shares (attack stage): the public `run`/`__call__` contract, input checks, and a
registry by name so experiment specs and the CLI refer to attacks as strings.

An attack object holds only its hyperparameters (typed, keyword-only, validated when it is built);
nothing from one call is kept on `self`, so one object can attack many batches, in any order, from
any thread. Subclasses implement `_run` on inputs already checked and converted.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import AttackError
from ..targets.base import Target
from .result import AttackResult

#: Called with each image's result the moment it is final (progress bars, streaming writers).
ResultCallback = Callable[[AttackResult], None]


class Attack(ABC):
    """A black-box attack on a `Target`: uint8 (N, H, W, 3) images in, one AttackResult per image out."""

    name: ClassVar[str] = ""

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """The hyperparameters, JSON-ready; with the seed they define the attack's results."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({args})"

    def run(self, target: Target, images: np.ndarray | torch.Tensor, *, seed: int = 0,
            ids: Sequence[int] | np.ndarray | None = None,
            on_result: ResultCallback | None = None) -> list[AttackResult]:
        """Attack every image; results in input order. Image i's random stream is derived from
        (`seed`, `ids[i]`) only (default id: its position), so its result does not depend on the
        other images in the batch. Pass the images' stable ids (FaceSet ids) to keep that true
        across shards."""
        if not isinstance(target, Target):
            raise AttackError(f"the target must be a fasrobust Target, got {type(target).__name__}")
        batch = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(images))
        if batch.ndim != 4 or batch.shape[-1] != 3:
            raise AttackError(f"images must be (N, H, W, 3), got shape {tuple(batch.shape)}")
        if batch.dtype != torch.uint8:
            raise AttackError(f"images must be uint8 (8-bit RGB), got {batch.dtype}")
        if batch.shape[0] == 0:
            raise AttackError("no images to attack (the selection is empty)")
        if int(seed) != seed or seed < 0:
            raise AttackError(f"seed must be a non-negative integer, got {seed}")
        ids = np.arange(batch.shape[0]) if ids is None else np.asarray(ids)
        if ids.shape != (batch.shape[0],) or not np.issubdtype(ids.dtype, np.integer):
            raise AttackError(f"ids must be {batch.shape[0]} integers, one per image")
        if len(np.unique(ids)) != len(ids):
            raise AttackError("ids must be unique (they seed each image's random stream)")
        return self._run(target, batch, seed=int(seed), ids=ids, on_result=on_result)

    __call__ = run

    @abstractmethod
    def _run(self, target: Target, images: torch.Tensor, *, seed: int, ids: np.ndarray,
             on_result: ResultCallback | None) -> list[AttackResult]:
        """Attack checked inputs: `images` uint8 (N, H, W, 3) on any device, N >= 1."""


_REGISTRY: dict[str, type[Attack]] = {}


def register_attack(name: str) -> Callable[[type[Attack]], type[Attack]]:
    """Class decorator: `@register_attack("pixel")`. Names are unique."""

    def decorate(cls: type[Attack]) -> type[Attack]:
        if name in _REGISTRY:
            raise ValueError(f"attack name {name!r} is registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def list_attacks() -> list[str]:
    return sorted(_REGISTRY)


def create_attack(name: str, **settings: Any) -> Attack:
    """Build a registered attack; unknown names and settings are one-line AttackErrors."""
    if name not in _REGISTRY:
        raise AttackError(f"unknown attack {name!r} (known: {', '.join(list_attacks())})")
    try:
        return _REGISTRY[name](**settings)
    except TypeError as exc:  # a setting the attack does not take
        raise AttackError(f"attack {name!r}: {exc}") from None
