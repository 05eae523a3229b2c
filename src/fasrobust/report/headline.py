"""The answer a reader came for, first on the page (report stage): for each model (behind each defence it
was attacked behind) and each attack, how many of the spoofs the model caught get through, with how many
pixels and queries. Results -> headline rows -> html.py and report.json.

One row per (database, model, defence, eot, attack configuration, pixels), at the budget the attack ran
with: spoofs attacked (those the model called spoof before the attack), the share of them called live
after it, verified from the saved PNG, with its Wilson 95 % interval; the median queries those successes
took; the median pixels they changed (the attack's setting for a fixed-size attack, less where a pixel was
written with its own colour; the L0 reached for attacks that shrink it); the query budget per image; the
criterion. Every number is computed from the stored rows, nothing else."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..experiments.attack_stats import caught_before, fooled_within
from ..metrics import wilson_interval
from .columns import augment_label, criterion_text
from .results import Results

_KEYS = ["database", "model_key", "defence", "eot_draws", "attack", "setting_key", "pixels"]


@dataclass(frozen=True)
class HeadlineRow:
    database: str
    model: str
    defence: str
    attack: str
    setting: str
    pixels: int  # the attack's pixel setting (0 where it searched how many each image needs)
    query_budget: int  # queries per image the attack ran with
    spoofs: int  # spoof images in the rows
    attacked: int  # of them, called spoof before the attack
    fooled: int  # of those, called live after it (verified)
    share: float  # percent
    share_ci: tuple[float, float]  # percent, Wilson 95 %
    median_queries: float  # of the successes (NaN without one)
    median_pixels: float  # pixels changed by the successes (NaN without one)
    criterion: str
    open_pixels: bool = False  # the attack searched each image's pixel count (decision-based, pixels: auto)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in out.items()}


def headline_rows(data: Results) -> list[HeadlineRow]:
    rows = data.attacks
    rows = rows[rows["is_spoof"] & rows["train_database"].isna()] if len(rows) else rows
    out = []
    for _, group in rows.groupby(_KEYS, sort=False, dropna=False):
        first = group.iloc[0]
        attacked = caught_before(group)
        won = fooled_within(group) & attacked & (group["verified"].fillna(0).to_numpy(dtype=float) == 1)
        n, k = int(attacked.sum()), int(won.sum())
        low, high = wilson_interval(k, n) if n else (np.nan, np.nan)
        model = augment_label(first["augment"]) + (f", {int(first['steps']):,} steps" if pd.notna(first["steps"])
                                                   else "")
        eot = f" (attack averaged {int(first['eot_draws'])} answers)" if int(first["eot_draws"]) > 1 else ""
        out.append(HeadlineRow(str(first["database"]), model, str(first["defence"]) + eot, str(first["attack"]),
                               str(first["setting"]), int(first["pixels"]), int(group["query_budget"].max()),
                               len(group), n, k, 100.0 * k / n if n else np.nan, (100.0 * low, 100.0 * high),
                               _median(group["queries"], won), _median(group["pixels_changed"], won),
                               criterion_text(group), bool(first["open_pixels"])))
    return sorted(out, key=lambda r: (r.database, r.defence != "none", r.defence, r.model, r.attack, r.pixels))


def _median(values: pd.Series, mask: np.ndarray) -> float:
    chosen = values.to_numpy(dtype=float)[mask]
    return float(np.median(chosen)) if len(chosen) else np.nan
