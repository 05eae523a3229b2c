"""The numbers an attack over a set of images comes to, from stored attack rows (experiments stage):
recall before and after and its drop (the paper's arithmetic), attack success with its Wilson interval,
median queries to success, at the stored budget or at any smaller query budget.

Intervals (95 %): Wilson for recall before, recall after and success (counts over images); for the recall
drop a cluster bootstrap of the paired per-image change (caught before minus caught after, the same
images before and after), resampling whole source videos, since frames of one video are not independent.

One function for everyone: `fasrobust attack` prints these, and the report's tables, figures and findings
show them. A spoof is caught before the attack iff its clean query did not call it live (`already_live`,
by the row's own criterion: P(live) < threshold, or a decision of spoof); after it iff the attack did not
succeed. An image counts as fooled within q queries
iff the attack succeeded (verified where checked) having spent at most q (attacks stop at their first
success and are prefix-consistent along their budget, so this equals an attack run with budget q).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..labels import BONA_FIDE
from ..metrics import recall_drop, wilson_interval
from ..stats.resample import DEFAULT_RESAMPLES, bootstrap_replicates, percentile_interval


def fooled_within(rows: pd.DataFrame, queries: float | np.ndarray | None = None) -> np.ndarray:
    """Per row: called live after the attack within `queries` queries (a number, or one per row; None: at
    the row's own budget)."""
    won = rows["success"].to_numpy(dtype=bool) | rows["already_live"].to_numpy(dtype=bool)
    if queries is None:
        return won
    return won & (rows["queries"].to_numpy(dtype=float) <= queries)


def caught_before(rows: pd.DataFrame) -> np.ndarray:
    """Per row: the target called the clean image spoof (its first query did not call it live)."""
    return ~rows["already_live"].to_numpy(dtype=bool)


def spoof_rows(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["attack_type"] != BONA_FIDE]


def attack_stats(rows: pd.DataFrame, queries: float | np.ndarray | None = None, *,
                 resamples: int = DEFAULT_RESAMPLES) -> dict[str, Any]:
    """Over the spoof rows of `rows`, in percent: recall before/after (with Wilson 95 % intervals), the
    drop in points, successes among the images that needed an attack (with its interval), how many did
    not verify, and the median queries of the successes that needed queries. `queries` as in
    `fooled_within` (one per row of `rows`). `recall_drop_ci` is the bootstrap interval of the drop
    (points) over the rows' `source` videos (each row its own video when there is no such column)."""
    if queries is not None and np.ndim(queries) > 0:
        queries = np.asarray(queries, dtype=float)[(rows["attack_type"] != BONA_FIDE).to_numpy()]
    spoof = spoof_rows(rows)
    n = len(spoof)
    if n == 0:
        return {"spoofs": 0, "recall": np.nan, "recall_after": np.nan, "recall_drop": np.nan, "successes": 0,
                "attacked": 0, "success_verified": np.nan, "median_queries": np.nan, "median_pixels": np.nan,
                "queries": 0,
                "not_verified": 0, "recall_ci": (np.nan, np.nan), "recall_after_ci": (np.nan, np.nan),
                "success_ci": (np.nan, np.nan), "recall_drop_ci": (np.nan, np.nan), "videos": 0}
    caught = caught_before(spoof)
    won = fooled_within(spoof, queries)
    attacked = ~spoof["already_live"].to_numpy(dtype=bool)
    wins = won & attacked
    verified = spoof["verified"].fillna(0).to_numpy(dtype=float) == 1
    used = spoof["queries"].to_numpy(dtype=float)
    before, after = float(caught.mean()), float((~won).mean())
    return {
        "spoofs": n,
        "recall": 100 * before,
        "recall_ci": _percent(wilson_interval(int(caught.sum()), n)),
        "recall_after": 100 * after,
        "recall_after_ci": _percent(wilson_interval(int((~won).sum()), n)),
        "recall_drop": recall_drop(before, after),
        "recall_drop_ci": paired_drop_interval(caught, ~won, _sources(spoof), resamples),
        "videos": int(len(set(_sources(spoof).tolist()))),
        "successes": int(won.sum()),
        "attacked": int(attacked.sum()),
        "success_verified": 100 * float((wins & verified).sum()) / attacked.sum() if attacked.any() else np.nan,
        "success_ci": _percent(wilson_interval(int((wins & verified).sum()), int(attacked.sum()))),
        "median_queries": float(np.median(used[wins])) if wins.any() else np.nan,
        "median_pixels": float(np.median(spoof["pixels_changed"].to_numpy(dtype=float)[wins]))
        if wins.any() and "pixels_changed" in spoof else np.nan,
        "queries": int(used.sum()),
        "not_verified": int((spoof["verified"] == 0).sum()),
    }


def success_curve(rows: pd.DataFrame, queries: np.ndarray) -> np.ndarray:
    """Fraction of the spoof rows called live within each query count (already-live ones from 1 query)."""
    spoof = spoof_rows(rows)
    if spoof.empty:
        return np.full(len(queries), np.nan)
    won = fooled_within(spoof)
    used = np.where(won, spoof["queries"].to_numpy(dtype=float), np.inf)
    return (used[None, :] <= np.asarray(queries, dtype=float)[:, None]).mean(axis=1)


def paired_drop_interval(caught_before: np.ndarray, caught_after: np.ndarray, sources: np.ndarray,
                         resamples: int = DEFAULT_RESAMPLES) -> tuple[float, float]:
    """95 % bootstrap interval of 100 x mean(caught before - caught after), in points, resampling whole
    source videos: each image keeps its own before and after (paired), so the interval is that of the
    drop itself, narrower than the two recalls' intervals combined."""
    change = caught_before.astype(float) - caught_after.astype(float)

    def mean_change(weights: np.ndarray) -> np.ndarray:
        return 100 * (weights @ change) / weights.sum(axis=1)

    return percentile_interval(bootstrap_replicates(mean_change, len(change), groups=sources,
                                                    resamples=resamples))


def _sources(rows: pd.DataFrame) -> np.ndarray:
    if "source" in rows.columns:
        return rows["source"].astype(str).to_numpy()
    return np.arange(len(rows)).astype(str)


def _percent(interval: tuple[float, float]) -> tuple[float, float]:
    return 100 * interval[0], 100 * interval[1]
