"""The numbers behind every table cell and curve point, from the tidy attack rows (`data.py`), for any
attack. Report stage: tables.py and figures.py call these; the arithmetic itself is
`experiments.attack_stats` (the same that `fasrobust attack` prints).

The paper's arithmetic: recall before = spoofs called spoof before the attack / spoofs attacked; recall
after = spoofs still called spoof after it / spoofs attacked (the ones already called live count as
successes); recall drop = before - after in percentage points (3DMAD, no augmentation: 100 -> 81 is 19.00).

A result at a budget smaller than the one an attack ran with (fewer DE generations, fewer Sparse-RS
queries) comes from the stored queries: an image counts as fooled within budget b iff the attack
succeeded having spent at most the query budget b gives that attack. Attacks stop at their first success
and are prefix-consistent per image seed, so this equals a separate attack with budget b: Fig. 4 and
the equal-budget comparison cost no extra attack.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..experiments.attack_stats import attack_stats
from .data import RunData, queries_at_budget


def recall_stats(rows: pd.DataFrame, budget: int | None = None, *, queries: float | None = None) -> dict[str, Any]:
    """Recall before/after/drop (percent, with intervals) and attack statistics over the spoof rows, at
    budget `budget` of the rows' attack (None: each row's own), or at a query count `queries`."""
    if budget is not None and len(rows):
        queries = queries_at_budget(rows, budget)
    return attack_stats(rows, queries)


def budget_curve(rows: pd.DataFrame, budgets: Iterable[int]) -> pd.DataFrame:
    """Recall after/drop and successes at each budget of the rows' attack (no extra attack). Budgets
    beyond the smallest stored budget of `rows` are left out: they were never run."""
    ceiling = int(rows["budget"].min()) if len(rows) else 0
    points = [{"budget": int(k), **recall_stats(rows, int(k))} for k in sorted(set(budgets)) if k <= ceiling]
    return pd.DataFrame(points)


def pixel_curve(rows: pd.DataFrame, budget: int | None) -> pd.DataFrame:
    """Recall drop per number of pixels changed (Fig. 3) at one budget."""
    points = [{"pixels": int(p), **recall_stats(group, budget)} for p, group in rows.groupby("pixels")]
    return pd.DataFrame(points)


@dataclass(frozen=True)
class Selection:
    """The attack configuration and model size a table or figure shows for one database."""

    database: str
    attack: str
    setting_key: str  # attack, its other settings, seed (see data.attack_columns)
    setting: str  # the same as text
    pixels: int
    budget: int  # the budget the numbers are taken at, in the attack's budget field
    ran: int  # the budget the attacks ran with (>= budget; larger: the numbers came from stored queries)
    budget_field: str
    query_budget: int  # queries per image at `budget`
    steps: int | None
    alternatives: int  # other configurations of this attack present and not shown

    def describe(self) -> str:
        return (f"{self.setting}, {self.pixels} pixel{'s' if self.pixels != 1 else ''}, {self.budget} "
                f"{self.budget_field} ({self.query_budget:,} queries per image at most)")

    def budget_note(self) -> str:
        if self.ran > self.budget:
            return (f"Results at {self.budget} {self.budget_field} are read from the stored queries of attacks "
                    f"run with {self.ran}: no extra attack.")
        return ""


def selections(data: RunData, rows: pd.DataFrame, database: str) -> list[Selection]:
    """The main configuration of each attack for `database`: the grid's largest pixel count and budget
    and the training steps (x the database's steps_scale) when present, else the largest stored ones."""
    rows = rows[rows["is_spoof"]]
    out = []
    for attack, group in rows.groupby("attack", sort=True):
        pixels = _prefer(group["pixels"], data.grid_attack_values(attack, "pixels"))
        group = group[group["pixels"] == pixels]
        sizes = group.groupby("setting_key").size().sort_values(ascending=False, kind="stable")
        key = sizes.index[0]
        group = group[group["setting_key"] == key]
        field = str(group["budget_field"].iloc[0])
        ran = int(group["budget"].max())
        wanted = [int(v) for v in data.grid_attack_values(attack, field)] if field else []
        budget = max((v for v in wanted if v <= ran), default=ran)
        steps_values = group["steps"].dropna()
        steps = None
        if len(steps_values):
            scale = _steps_scale(data, database)
            steps = int(_prefer(steps_values, [max(1, round(s * scale)) for s in data.grid_values("steps")]))
        query_budget = int(queries_at_budget(group.iloc[:1], budget)[0]) if field else int(group["query_budget"].max())
        out.append(Selection(database, str(attack), key, str(group["setting"].iloc[0]), int(pixels), budget, ran,
                             field, query_budget, steps, len(sizes) - 1))
    return out


def rows_for(rows: pd.DataFrame, sel: Selection, *, pixels: bool = True, steps: bool = True) -> pd.DataFrame:
    """The rows a selection covers (its attack configuration, run with at least `sel.budget`)."""
    mask = (rows["database"] == sel.database) & (rows["setting_key"] == sel.setting_key)
    mask &= rows["budget"] >= sel.budget
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


def _steps_scale(data: RunData, database: str) -> float:
    for entry in data.spec.get("databases") or []:
        if isinstance(entry, dict) and entry.get("name") == database:
            return float(entry.get("steps_scale") or 1.0)
    return 1.0
