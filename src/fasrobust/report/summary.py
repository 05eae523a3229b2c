"""The numbers behind every table cell and curve point, computed from the tidy attack rows (`data.py`).

Report stage: tables.py and figures.py call these. The paper's arithmetic: recall before = spoofs called
spoof before the attack (P(live) < 0.5) / spoofs attacked; recall after = spoofs still called spoof after
it / spoofs attacked (the ones already called live count as successes); recall drop = before - after in
percentage points (3DMAD, no augmentation: 100 -> 81 is a drop of 19.00).

Recall after at an iteration budget k smaller than the one an attack ran for comes from the stored
best-fitness trajectories: an image counts as attacked successfully within k generations iff it was
already live or its best spoof confidence after k generations is <= 0.5 (`data.first_success`). The
attack is prefix-consistent per image seed, so this equals a separate attack with budget k, and Fig. 4
costs no extra attack.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..metrics import recall_drop
from .data import RunData

#: Attack settings besides pixels and iterations; a table shows one combination of them.
OTHER_ATTACK_SETTINGS = ("population", "f", "cr", "strategy", "seed")


def recall_stats(rows: pd.DataFrame, budget: int | None = None) -> dict[str, Any]:
    """Recall before/after/drop (percent) and attack statistics over the spoof rows of `rows`, at
    iteration budget `budget` (None: each row's own budget, i.e. its stored success)."""
    spoof = _SpoofArrays.of(rows)
    return spoof.stats(spoof.succeeded(budget))


def succeeded(rows: pd.DataFrame, budget: int | None) -> np.ndarray:
    """Per row: called live within `budget` generations (or at the row's own budget when None)."""
    if budget is None:
        return rows["success"].to_numpy(dtype=bool) | rows["already_live"].to_numpy(dtype=bool)
    return rows["first_success"].to_numpy(dtype=float) <= budget


def iteration_curve(rows: pd.DataFrame, budgets: Iterable[int]) -> pd.DataFrame:
    """Recall after/drop and successes at each budget, from the trajectories (no extra attack). Budgets
    beyond the smallest stored iteration count of `rows` are left out: they were never run."""
    ceiling = int(rows["iterations"].min()) if len(rows) else 0
    spoof = _SpoofArrays.of(rows)
    points = [{"iterations": int(k), **spoof.stats(spoof.succeeded(int(k)))}
              for k in sorted(set(budgets)) if k <= ceiling]
    return pd.DataFrame(points)


@dataclass(frozen=True)
class _SpoofArrays:
    """The spoof rows' columns as arrays, so a curve of hundreds of budgets costs milliseconds."""

    called_spoof: np.ndarray  # P(live) < 0.5 before the attack
    attacked: np.ndarray  # not already live
    verified: np.ndarray
    queries: np.ndarray
    rows: pd.DataFrame

    @classmethod
    def of(cls, rows: pd.DataFrame) -> _SpoofArrays:
        spoof = rows[rows["is_spoof"]]
        return cls(spoof["p_live_before"].to_numpy(dtype=float) < 0.5, ~spoof["already_live"].to_numpy(dtype=bool),
                   spoof["verified"].fillna(0).to_numpy(dtype=float) == 1, spoof["queries"].to_numpy(), spoof)

    def succeeded(self, budget: int | None) -> np.ndarray:
        return succeeded(self.rows, budget)

    def stats(self, won: np.ndarray) -> dict[str, Any]:
        n = len(self.rows)
        if n == 0:
            return {"spoofs": 0, "recall": np.nan, "recall_after": np.nan, "recall_drop": np.nan, "successes": 0,
                    "attacked": 0, "success_verified": np.nan, "median_queries": np.nan}
        before, after = float(self.called_spoof.mean()), float((~won).mean())
        wins = won & self.attacked
        attacked = int(self.attacked.sum())
        return {"spoofs": n, "recall": 100 * before, "recall_after": 100 * after,
                "recall_drop": recall_drop(before, after), "successes": int(won.sum()), "attacked": attacked,
                "success_verified": 100 * float((wins & self.verified).sum()) / attacked if attacked else np.nan,
                "median_queries": float(np.median(self.queries[wins])) if wins.any() else np.nan}


def pixel_curve(rows: pd.DataFrame, budget: int | None) -> pd.DataFrame:
    """Recall drop per number of pixels changed (Fig. 3) at one iteration budget."""
    points = [{"pixels": int(p), **recall_stats(group, budget)} for p, group in rows.groupby("pixels")]
    return pd.DataFrame(points)


@dataclass(frozen=True)
class Selection:
    """The attack setting and model size a table or figure shows for one database."""

    database: str
    pixels: int
    budget: int  # iterations the numbers are taken at
    ran: int  # iterations the attacks ran for (>= budget; larger means the budget came from trajectories)
    steps: int | None
    others: dict[str, Any]  # population, F, CR, strategy, seed
    alternatives: int  # other combinations of `others` present and not shown

    def describe(self) -> str:
        parts = [f"{self.pixels} pixel{'s' if self.pixels != 1 else ''}", f"{self.budget} iterations"]
        parts += [f"{k} {v}" for k, v in self.others.items()]
        return ", ".join(parts)

    def budget_note(self) -> str:
        if self.ran > self.budget:
            return (f"Recall after at {self.budget} iterations is read from the best-fitness trajectories "
                    f"of attacks run for {self.ran}: no extra attack.")
        return ""


def select(data: RunData, rows: pd.DataFrame, database: str) -> Selection | None:
    """The paper's main setting for `database`: the spec grid's largest pixel count, iteration budget
    and training steps (x the database's steps_scale) when present, else the largest stored ones."""
    rows = rows[rows["is_spoof"]]
    if rows.empty:
        return None
    pixels = _prefer(rows["pixels"], data.grid_values("pixels"))
    rows = rows[rows["pixels"] == pixels]
    others, alternatives = _dominant(rows, OTHER_ATTACK_SETTINGS)
    for key, value in others.items():
        rows = rows[rows[key] == value]
    ran = int(rows["iterations"].max())
    wanted = [int(v) for v in data.grid_values("iterations")]
    budget = max((v for v in wanted if v <= ran), default=ran)
    scale = _steps_scale(data, database)
    steps_values = rows["steps"].dropna()
    steps = None
    if len(steps_values):
        steps = _prefer(steps_values, [max(1, round(s * scale)) for s in data.grid_values("steps")])
    return Selection(database, int(pixels), int(budget), ran, None if steps is None else int(steps),
                     others, alternatives)


def rows_for(rows: pd.DataFrame, sel: Selection, *, pixels: bool = True, steps: bool = True) -> pd.DataFrame:
    """The rows a selection covers (attacks that ran at least `sel.budget` iterations)."""
    mask = (rows["database"] == sel.database) & (rows["iterations"] >= sel.budget)
    for key, value in sel.others.items():
        mask &= rows[key] == value
    if pixels:
        mask &= rows["pixels"] == sel.pixels
    if steps and sel.steps is not None:
        mask &= (rows["steps"] == sel.steps).fillna(False).astype(bool)
    return rows[mask]


def model_metrics(rows: pd.DataFrame) -> dict[str, Any]:
    """The evaluation metrics of the (one) model these rows attacked, NaN when it was not evaluated."""
    keys = ("acc", "hter", "precision", "recall_eval", "apcer", "bpcer", "acer", "threshold_source")
    first = rows.iloc[0] if len(rows) else None
    return {k: (first[k] if first is not None and k in rows.columns else np.nan) for k in keys}


def _prefer(values: pd.Series, wanted: Sequence[Any]) -> Any:
    present = set(values.tolist())
    for value in sorted(wanted, reverse=True):
        if value in present:
            return value
    counts = values.value_counts()
    return max(v for v, c in counts.items() if c == counts.max())


def _dominant(rows: pd.DataFrame, keys: Sequence[str]) -> tuple[dict[str, Any], int]:
    keys = [k for k in keys if k in rows.columns]
    if not keys or rows.empty:
        return {}, 0
    sizes = rows.groupby(keys, dropna=False).size().sort_values(ascending=False, kind="stable")
    best = sizes.index[0] if len(keys) > 1 else (sizes.index[0],)
    return {k: _plain(v) for k, v in zip(keys, best, strict=True)}, len(sizes) - 1


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _steps_scale(data: RunData, database: str) -> float:
    for entry in data.spec.get("databases") or []:
        if isinstance(entry, dict) and entry.get("name") == database:
            return float(entry.get("steps_scale") or 1.0)
    return 1.0
