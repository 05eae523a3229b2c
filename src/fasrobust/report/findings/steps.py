"""Finding 3 (report stage, findings): longer training does not make the model more robust. Test: the
paired cluster-bootstrap slope of the recall drop per decade of training steps; it holds unless more
training lowers the drop by more than the margin, and does not hold when the whole interval is below 0."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...paper import published
from ..results import Results
from .common import (
    MARGIN_POINTS,
    Claim,
    Finding,
    common_budget_changes,
    context,
    image_set,
    judged,
    not_designed,
    paper_key,
    trend,
)

CLAIM = Claim("steps", "Longer training does not make the model more robust.",
              "paired cluster-bootstrap slope of recall drop per log10 training step, 95 %")


def judge(data: Results, rows: pd.DataFrame, resamples: int, seed: int) -> Finding:
    unit = "points per log10 step"
    rows = rows[rows["steps"].notna()]
    if rows.empty:
        return not_designed(CLAIM, "no attacked model records its training steps", "a study with steps "
                            "[10000, 50000]", unit=unit)
    contexts = context(rows, ["database", "augment", "model", "train_seed", "setting_key", "pixels"])
    steps = np.log10(rows["steps"].to_numpy(dtype=float))
    found = trend(rows, steps, contexts, common_budget_changes(data, rows, contexts), resamples, seed)
    paper = _paper_slope(data, rows)
    if found is None:
        values = ", ".join(f"{int(s):,}" for s in sorted(set(rows["steps"].astype(int))))
        return not_designed(CLAIM, f"this run trains one step count ({values}) per setting", "a study whose grid "
                            "varies steps, e.g. [10000, 50000]", unit=unit, n_images=rows["image_id"].nunique(),
                            paper=paper)
    margin = MARGIN_POINTS / found.span
    lo, hi = found.interval or (np.nan, np.nan)
    # More robust = a smaller drop: the claim holds unless more training lowers the drop by the margin.
    return judged(CLAIM, holds=lo > -margin, fails=hi < 0, estimate=found.slope, interval=found.interval,
                  unit=unit, n_min=found.n_min, margin=margin, n_images=rows["image_id"].nunique(),
                  image_set=image_set(rows, "each model at one budget of its setting",
                                      contexts + ":" + rows["steps"].astype(str)),
                  paper=paper, details={"recall drop (points) at each training length (steps)":
                                        {f"{10 ** float(k):,.0f}": v for k, v in found.per_setting.items()},
                                        "margin (points per decade)": margin})


def _paper_slope(data: Results, rows: pd.DataFrame) -> float | None:
    key = paper_key(data, rows)
    entry = published()["training_steps"].get(key) if key else None
    if entry is None:
        return None
    x = np.log10([float(s) for s in entry["columns"]])
    y = np.array([v["recall_drop"] for v in entry["columns"].values()], dtype=float)
    return float(np.polyfit(x, y, 1)[0])
