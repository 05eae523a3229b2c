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

A selection belongs to one defence stack and one training database: by default the undefended,
same-database rows (the paper's tables and figures); the defence and cross-database tables ask for theirs.

One budget policy for every table, figure and finding (`reading_budget`): numbers are read at the largest
budget the spec's grid asked for that every compared row reached; when the grid asked for none of those,
at the smallest budget the rows were stored with.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..experiments.attack_stats import attack_stats
from ..experiments.spec import STANDARD_VARIANT
from .results import METRIC_KEYS, NO_DEFENCE, Results, queries_at_budget


def reading_budget(rows: pd.DataFrame, wanted: Iterable[Any] = ()) -> int:
    """The budget (in the rows' budget field) that numbers over `rows` are read at: the largest of `wanted`
    (the grid's values) that every row reached, else the smallest stored budget."""
    reached = int(rows["budget"].min()) if len(rows) else 0
    return max((int(v) for v in wanted if int(v) <= reached), default=reached)


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
    defence: str | None = NO_DEFENCE  # the stack the rows were attacked behind (None: every stack)
    cross_database: bool = False  # rows of models trained on another database (True) or on this one
    variant: str | None = STANDARD_VARIANT  # the training variant of the rows' models (None: every one)

    def describe(self) -> str:
        return (f"{self.setting}, {self.pixels} pixel{'s' if self.pixels != 1 else ''}, {self.budget} "
                f"{self.budget_field} ({self.query_budget:,} queries per image at most)")

    def budget_note(self) -> str:
        if self.ran > self.budget:
            return (f"Results at {self.budget} {self.budget_field} are read from the stored queries of attacks "
                    f"run with {self.ran}: no extra attack.")
        return ""


def selections(data: Results, rows: pd.DataFrame, database: str, *, defence: str | None = NO_DEFENCE,
               cross_database: bool = False, variant: str | None = STANDARD_VARIANT) -> list[Selection]:
    """The main configuration of each attack for `database`: the grid's largest pixel count and budget
    and the training steps (x the database's steps_scale) when present, else the largest stored ones.
    Over the rows of one stack (`defence`, None: all) of same- or cross-database models of one training
    variant (None: all); the defaults are the paper's scope: undefended, standard training, own database."""
    rows = rows[rows["is_spoof"] & _scope_mask(rows, defence, cross_database, variant)]
    out = []
    for attack, group in rows.groupby("attack", sort=True):
        pixels = _prefer(group["pixels"], data.grid_attack_values(attack, "pixels"))
        group = group[group["pixels"] == pixels]
        sizes = group.groupby("setting_key").size().sort_values(ascending=False, kind="stable")
        key = sizes.index[0]
        group = group[group["setting_key"] == key]
        field = str(group["budget_field"].iloc[0])
        ran = int(group["budget"].max())
        budget = reading_budget(group, data.grid_attack_values(attack, field) if field else ())
        steps_values = group["steps"].dropna()
        steps = None
        if len(steps_values):
            scale = data.spec.steps_scale(database)
            steps = int(_prefer(steps_values, [max(1, round(s * scale)) for s in data.grid_values("steps")]))
        query_budget = int(queries_at_budget(group.iloc[:1], budget)[0]) if field else int(group["query_budget"].max())
        out.append(Selection(database, str(attack), key, str(group["setting"].iloc[0]), int(pixels), budget, ran,
                             field, query_budget, steps, len(sizes) - 1, defence, cross_database, variant))
    return out


def _scope_mask(rows: pd.DataFrame, defence: str | None, cross_database: bool, variant: str | None) -> pd.Series:
    mask = pd.Series(True, index=rows.index)
    if "defence" in rows.columns and defence is not None:
        mask &= rows["defence"] == defence
    if "variant" in rows.columns and variant is not None:
        mask &= rows["variant"] == variant
    if "train_database" in rows.columns:
        mask &= rows["train_database"].notna() == cross_database
    if "open_pixels" in rows.columns:  # how many pixels each image needs: the robustness section's question
        mask &= ~rows["open_pixels"].astype(bool)
    return mask


def rows_for(rows: pd.DataFrame, sel: Selection, *, pixels: bool = True, steps: bool = True) -> pd.DataFrame:
    """The rows a selection covers (its attack configuration, run with at least `sel.budget`)."""
    mask = (rows["database"] == sel.database) & (rows["setting_key"] == sel.setting_key)
    mask &= (rows["budget"] >= sel.budget) & _scope_mask(rows, sel.defence, sel.cross_database, sel.variant)
    if pixels:
        mask &= rows["pixels"] == sel.pixels
    if steps and sel.steps is not None:
        mask &= (rows["steps"] == sel.steps).fillna(False).astype(bool)
    return rows[mask]


def model_metrics(rows: pd.DataFrame) -> dict[str, Any]:
    """The evaluation metrics (with `<name>_ci` intervals) of the (one) system these rows attacked, NaN
    when it was not evaluated."""
    keys = [*(c for m in METRIC_KEYS for c in (m, f"{m}_ci")), "threshold_source", "eval_images",
            "latency_ratio", "eer_threshold"]
    first = rows.iloc[0] if len(rows) else None
    missing = {k: ((np.nan, np.nan) if k.endswith("_ci") else np.nan) for k in keys}
    return {k: (first[k] if first is not None and k in rows.columns else missing[k]) for k in keys}


def image_sets(groups: Iterable[pd.DataFrame]) -> tuple[bool, list[int]]:
    """Whether every group attacked the same spoof images (paired across the rows of a table: the same
    FaceSet ids), and how many spoof images each group attacked."""
    sets = [frozenset(zip(g.loc[g["is_spoof"], "database"], g.loc[g["is_spoof"], "image_id"], strict=True))
            for g in groups]
    return len(set(sets)) <= 1, [len(s) for s in sets]


def _prefer(values: pd.Series, wanted: Sequence[Any]) -> Any:
    present = set(values.tolist())
    for value in sorted(wanted, reverse=True):
        if value in present:
            return value
    counts = values.value_counts()
    return max(v for v, c in counts.items() if c == counts.max())

