"""Finding 1 (report stage, findings): the recall drop grows with the number of pixels the attack may
change. Test: the paired cluster-bootstrap least-squares slope of the recall drop per pixel, within each
model and attack configuration, at one budget; it holds when the interval is above 0 and does not hold when
it lies below the margin spread over the pixel range."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
    trend,
)

CLAIM = Claim("pixels", "The recall drop grows with the number of pixels the attack may change.",
              "paired cluster-bootstrap least-squares slope of recall drop per pixel, 95 %")


def judge(data: Results, rows: pd.DataFrame, resamples: int, seed: int) -> Finding:
    unit = "points per pixel"
    contexts = context(rows, ["database", "model_key", "setting_key"])
    pixels = rows["pixels"].to_numpy(dtype=float)
    found = trend(rows, pixels, contexts, common_budget_changes(data, rows, contexts), resamples, seed)
    if found is None:
        values = ", ".join(str(int(p)) for p in sorted(set(pixels)))
        return not_designed(CLAIM, f"this run attacks one pixel count ({values}) per model",
                            "a study whose attack grid varies pixels, e.g. [1, 3, 9]", unit=unit,
                            n_images=rows["image_id"].nunique())
    margin = MARGIN_POINTS / found.span
    lo, hi = found.interval or (np.nan, np.nan)
    return judged(CLAIM, holds=lo > 0, fails=hi < margin, estimate=found.slope, interval=found.interval, unit=unit,
                  n_min=found.n_min, margin=margin, n_images=rows["image_id"].nunique(),
                  image_set=image_set(rows, "each model and attack setting at one budget",
                                      contexts + ":" + rows["pixels"].astype(str)),
                  details={"recall drop (points) at each pixel count": found.per_setting,
                           "margin (points per pixel)": margin})
