"""The state of the images an engine searches side by side, one row each, as a dataclass whose fields are
device tensors, host arrays or lists: `Rows.take` keeps some rows (images that finished leave), `Rows.join`
appends another state's rows (images that enter). Every field is sliced the same way, so a new field can
never be left behind when images come and go."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Self

import numpy as np


class Rows:
    """Mixin for a dataclass of per-row fields (torch tensors, numpy arrays or lists, first axis = row)."""

    def take(self, rows: np.ndarray) -> Self:
        return type(self)(**{f.name: _take(getattr(self, f.name), rows) for f in fields(self)})

    def join(self, other: Self) -> Self:
        return type(self)(**{f.name: _join(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)})


def _take(value: Any, rows: np.ndarray) -> Any:
    if isinstance(value, np.ndarray):
        return value[rows]
    if isinstance(value, list):
        return [value[r] for r in rows]
    import torch

    return value[torch.as_tensor(rows, dtype=torch.int64, device=value.device)]


def _join(first: Any, second: Any) -> Any:
    if isinstance(first, np.ndarray):
        return np.concatenate([first, second])
    if isinstance(first, list):
        return first + second
    import torch

    return torch.cat([first, second])
