"""Finding 2 (report stage, findings): the recall drop grows with the iteration budget and mostly saturates
near 300 iterations. Test: the paired cluster-bootstrap slope of the recall drop per 100 budget units, each
image read at several budgets from its stored queries (attacks stop at their first success and are
prefix-consistent, so a smaller budget costs no extra attack), up to the saturation point; then the gain
beyond it. For an attack other than the paper's DE, the saturation point is its budget with the queries of
the paper's DE at 300 generations (the DE's own settings model counts them)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ...attacks import attack_settings
from ...paper import PAPER_ATTACK, PAPER_POPULATION, SATURATION_ITERATIONS
from ...stats.trend import cell_means, within_slope
from ..results import Results, queries_at_budget
from .common import (
    MARGIN_POINTS,
    MIN_IMAGES,
    Claim,
    Finding,
    Verdict,
    cannot,
    clusters,
    context,
    image_set,
    interval_of,
    judged,
    needed,
    not_designed,
    recall_changes,
    smallest_budget,
    wide,
)

CLAIM = Claim("iterations", "The recall drop grows with the iteration budget and mostly saturates near 300 "
              "iterations.", "paired cluster-bootstrap slope of recall drop per 100 budget units up to "
              f"{SATURATION_ITERATIONS} iterations, and the gain beyond it, 95 %")
#: Budgets each image is read at along the curve.
BUDGET_POINTS = 7


def saturation_queries() -> int:
    """Queries per image of the paper's DE at the saturation point."""
    return attack_settings(PAPER_ATTACK, {"population": PAPER_POPULATION}).queries_at(SATURATION_ITERATIONS)


def judge(data: Results, rows: pd.DataFrame, resamples: int, seed: int) -> Finding:
    field_name = str(rows["budget_field"].iloc[0]) or "budget"
    unit = f"points per 100 {field_name}"
    group = rows[rows["pixels"] == rows["pixels"].max()]
    group = group[group["setting_key"] == group["setting_key"].value_counts().index[0]]
    ceiling = int(group["budget"].min())
    saturation = _saturation_budget(group)
    top = saturation if saturation is not None else ceiling
    budgets = sorted({int(round(b)) for b in np.linspace(smallest_budget(group), top, BUDGET_POINTS)})
    n_images = group["image_id"].nunique()
    if len(budgets) < 2:
        return not_designed(CLAIM, f"the stored budget is {ceiling} {field_name}: no curve", "attacks with a "
                            f"budget of {SATURATION_ITERATIONS + 100} iterations", unit=unit, n_images=n_images)
    models = context(group, ["database", "model_key"])
    long = pd.concat([pd.DataFrame({"context": models.to_numpy(), "x": b / 100, "change": recall_changes(group, b),
                                    "cluster": clusters(group)}) for b in budgets])
    cells = long.groupby(["context", "x"]).ngroup().to_numpy()
    means = cell_means(long["change"], cells, long["cluster"], resamples=resamples, seed=seed)
    first = long.groupby(cells).first()
    codes = pd.factorize(first["context"])[0]
    slope = float(within_slope(means.estimate, first["x"].to_numpy(), codes)[0])
    interval = interval_of(within_slope(means.replicates, first["x"].to_numpy(), codes))
    margin = MARGIN_POINTS / ((budgets[-1] - budgets[0]) / 100)
    details: dict[str, Any] = {f"recall drop (points) at each budget ({field_name})":
                               {str(b): float(long[long["x"] == b / 100]["change"].mean()) for b in budgets},
                               f"stored budget ({field_name})": ceiling, "margin (points per 100)": margin}
    images = image_set(group, f"each image read at budgets {budgets} {field_name} from its stored queries "
                              f"(attack run with {ceiling})")
    lo, hi = interval or (np.nan, np.nan)
    common = dict(unit=unit, n_images=n_images, image_set=images, estimate=slope, interval=interval)
    grows, flat = lo > 0, hi < margin
    if grows and int(means.counts.min()) >= MIN_IMAGES:
        late = _late_gain(group, saturation, ceiling, resamples, seed)
        if late is None:
            what = "equals" if saturation == ceiling else "is below"
            return cannot(CLAIM, f"the drop grows, but the largest stored budget, {ceiling} {field_name}, {what} "
                          f"the saturation point ({SATURATION_ITERATIONS} iterations or its queries): "
                          "saturation cannot be judged", f"attacks with a budget of {SATURATION_ITERATIONS + 100} "
                          "iterations or more", details=details, **common)
        details["gain beyond the saturation point (points)"] = late["estimate"]
        details["its 95 % interval"] = late["interval"]
        if late["interval"][0] > MARGIN_POINTS:
            return Finding(CLAIM.key, CLAIM.claim, CLAIM.test, Verdict.DOES_NOT_HOLD, slope, interval, unit,
                           n_images, images, "", "", None, {**details, "saturates": False})
        if late["interval"][1] >= MARGIN_POINTS:
            return cannot(CLAIM, "the drop grows, but its gain beyond the saturation point is not resolved: "
                          + wide(tuple(late["interval"]), "points", MARGIN_POINTS, int(means.counts.min())),
                          f"attack >= {needed(int(means.counts.min()), late['interval'], MARGIN_POINTS)} spoof "
                          "images per setting", details=details, **common)
    return judged(CLAIM, holds=grows, fails=flat and not grows, estimate=slope, interval=interval, unit=unit,
                  n_min=int(means.counts.min()), margin=margin, n_images=n_images, image_set=images,
                  details=details)


def _saturation_budget(rows: pd.DataFrame) -> int | None:
    """The budget (in the rows' own budget field) at the paper's saturation point; None when the rows'
    stored budget does not reach it."""
    ceiling = int(rows["budget"].min())
    if rows["attack"].iloc[0] == PAPER_ATTACK:
        return SATURATION_ITERATIONS if ceiling >= SATURATION_ITERATIONS else None
    target = saturation_queries()
    if queries_at_budget(rows.iloc[:1], ceiling)[0] < target:
        return None
    lo, hi = 0, ceiling  # the smallest budget whose queries reach the saturation point's
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if queries_at_budget(rows.iloc[:1], mid)[0] < target else (lo, mid)
    return lo


def _late_gain(rows: pd.DataFrame, saturation: int | None, ceiling: int, resamples: int,
               seed: int) -> dict[str, Any] | None:
    """Recall drop at the stored budget minus at the saturation point (points, paired), or None."""
    if saturation is None or ceiling <= saturation:
        return None
    gain = recall_changes(rows, ceiling) - recall_changes(rows, saturation)
    means = cell_means(gain, np.zeros(len(rows), dtype=int), clusters(rows), resamples=resamples, seed=seed)
    return {"from": saturation, "to": ceiling, "estimate": float(means.estimate[0]),
            "interval": interval_of(means.replicates[:, 0])}
