"""Finding 5 (report stage, findings): the mean best fitness falls steadily over the generations. Test: the
paired cluster-bootstrap fall of the mean best spoof confidence in the first and in the second half of the
budget, over the images the attack had to change; it holds when both halves fall."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ...stats.trend import cell_means
from ..results import Results, queries_at_budget
from .common import (
    FITNESS_MARGIN_POINTS,
    MIN_IMAGES,
    Claim,
    Finding,
    cannot,
    clusters,
    image_set,
    interval_of,
    judged,
    smallest_budget,
)

CLAIM = Claim("fitness", "The mean best fitness falls steadily over the generations.",
              "paired cluster-bootstrap fall of the mean best spoof confidence, first and second half of the "
              "generations, 95 %")


def best_confidence_at(trajectory: Any, queries: float) -> float:
    """The best spoof confidence an attack had reached within `queries` (its last change up to there;
    an attack that stopped early keeps its last value)."""
    points = np.asarray(trajectory, dtype=float).reshape(-1, 2)
    reached = points[points[:, 0] <= queries]
    return float(reached[-1, 1] if len(reached) else points[0, 1])


def judge(data: Results, rows: pd.DataFrame, resamples: int, seed: int) -> Finding:
    unit = "points of spoof confidence"
    attacked = rows[~rows["already_live"].astype(bool)]
    n_images = attacked["image_id"].nunique()
    if attacked.empty:
        return cannot(CLAIM, "every spoof image was called live before the attack: no trajectory",
                      f"attack >= {MIN_IMAGES} spoof images the model detects", unit=unit)
    budget = int(attacked["budget"].min())
    start = smallest_budget(attacked)
    generations = [start, (start + budget) // 2, budget]
    marks = [queries_at_budget(attacked, b) for b in generations]
    values = np.array([[best_confidence_at(t, q[i]) for i, t in enumerate(attacked["trajectory"])] for q in marks])
    falls = 100 * np.concatenate([values[0] - values[1], values[1] - values[2]])
    halves = np.repeat([0, 1], len(attacked))
    means = cell_means(falls, halves, np.tile(clusters(attacked), 2), resamples=resamples, seed=seed)
    total = means.replicates.sum(axis=1)
    intervals = [interval_of(means.replicates[:, h]) for h in (0, 1)]
    field_name = attacked["budget_field"].iloc[0]
    details = {f"budgets read ({field_name})": generations,
               "fall in the first half (points)": float(means.estimate[0]), "its 95 % interval": intervals[0],
               "fall in the second half (points)": float(means.estimate[1]), "and its 95 % interval": intervals[1],
               "margin (points)": FITNESS_MARGIN_POINTS}
    defined = all(i is not None for i in intervals)
    holds = defined and all(i[0] > 0 for i in intervals)
    fails = defined and any(i[1] < FITNESS_MARGIN_POINTS for i in intervals)
    return judged(CLAIM, holds=holds, fails=fails and not holds, estimate=float(means.estimate.sum()),
                  interval=interval_of(total), unit=unit, n_min=int(means.counts.min()),
                  margin=FITNESS_MARGIN_POINTS, n_images=n_images,
                  image_set=image_set(attacked, f"the images the attack had to change, budget {budget} {field_name}"),
                  details=details)
