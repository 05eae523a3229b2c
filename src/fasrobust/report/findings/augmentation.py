"""Finding 4 (report stage, findings): data augmentation does not protect against the attack. Test: each
augmentation's paired cluster-bootstrap difference in recall drop against no augmentation, at one training
length and budget; it holds when no interval lies wholly below minus the margin, and does not hold when
some augmentation lowers the drop with its whole interval below 0."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ...paper import published
from ...stats.trend import cell_means
from ..results import Results
from .common import (
    MARGIN_POINTS,
    Claim,
    Finding,
    clusters,
    common_budget_changes,
    context,
    image_set,
    interval_of,
    judged,
    not_designed,
    paper_key,
)

CLAIM = Claim("augmentation", "Data augmentation does not protect against the attack.",
              "paired cluster-bootstrap difference in recall drop, each augmentation vs none, 95 %")


def judge(data: Results, rows: pd.DataFrame, resamples: int, seed: int) -> Finding:
    unit = "points of recall drop vs none"
    contexts = context(rows, ["database", "steps", "model", "train_seed", "setting_key", "pixels"])
    changes = common_budget_changes(data, rows, contexts)
    frame = pd.DataFrame({"context": contexts.to_numpy(), "augment": rows["augment"].astype(str).to_numpy(),
                          "change": changes, "cluster": clusters(rows)})
    with_none = frame.groupby("context")["augment"].agg(lambda a: "none" in set(a) and a.nunique() >= 2)
    frame = frame[frame["context"].isin(with_none[with_none].index)]
    if frame.empty:
        present = ", ".join(sorted(set(rows["augment"].astype(str))))
        return not_designed(CLAIM, f"this run attacks no model without augmentation beside one with it "
                            f"(settings: {present})", "a study with augment [none, all] at one training length",
                            unit=unit, n_images=rows["image_id"].nunique())
    cells = frame.groupby(["context", "augment"]).ngroup().to_numpy()
    means = cell_means(frame["change"], cells, frame["cluster"], resamples=resamples, seed=seed)
    first = frame.groupby(cells).first().reset_index(drop=True)
    settings: dict[str, dict[str, Any]] = {}
    for augment in sorted(set(first["augment"]) - {"none"}):
        mine = first[first["augment"] == augment]
        pairs = [(int(a), int(first.index[(first["context"] == c) & (first["augment"] == "none")][0]))
                 for a, c in zip(mine.index, mine["context"], strict=True)]
        with_a, without = (np.array(p) for p in zip(*pairs, strict=True))
        estimate = float(np.mean(means.estimate[with_a] - means.estimate[without]))
        replicates = np.mean(means.replicates[:, with_a] - means.replicates[:, without], axis=1)
        settings[augment] = {"estimate": estimate, "interval": interval_of(replicates),
                             "n_min": int(min(means.counts[with_a].min(), means.counts[without].min()))}
    worst = min(settings, key=lambda a: settings[a]["estimate"])
    judged_settings = [s for s in settings.values() if s["interval"] is not None]
    holds = bool(judged_settings) and all(s["interval"][0] > -MARGIN_POINTS for s in judged_settings)
    fails = any(s["interval"][1] < 0 for s in judged_settings)
    paper = _paper_differences(data, rows)
    return judged(CLAIM, holds=holds and not fails, fails=fails, estimate=settings[worst]["estimate"],
                  interval=settings[worst]["interval"], unit=unit, n_min=min(s["n_min"] for s in settings.values()),
                  margin=MARGIN_POINTS, n_images=rows["image_id"].nunique(),
                  image_set=image_set(rows, "each augmentation against none at one training length and budget",
                                      contexts + ":" + rows["augment"].astype(str)),
                  paper=None if paper is None else min(paper.values()),
                  details={"most protective": worst,
                           "difference in recall drop vs none (points)": {a: v["estimate"] for a, v in settings.items()},
                           "its 95 % interval": {a: v["interval"] for a, v in settings.items()},
                           "the paper's difference (points)": paper, "margin (points)": MARGIN_POINTS})


def _paper_differences(data: Results, rows: pd.DataFrame) -> dict[str, float] | None:
    key = paper_key(data, rows)
    entry = published()["augmentation"].get(key) if key else None
    if entry is None:
        return None
    none = entry["rows"]["none"]["recall_drop"]
    return {a: float(v["recall_drop"] - none) for a, v in entry["rows"].items() if a != "none"}
