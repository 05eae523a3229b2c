"""The worst case over the attack ensemble (report stage): per ensemble that `fasrobust robustness` ran
(plan.json `ensembles`), one row per (model, defence, pixels, query budget): the spoofs, those caught before
any attack, those still caught after every attack, the robust recall with its Wilson interval, and, per
attack, how many images it broke first. Computed from the stored rows of the ensemble's own shards."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..experiments.ensemble import worst_case_rows
from ..metrics import wilson_interval
from .columns import criterion_text
from .results import Results
from .tables import Table


def worst_case_table(data: Results) -> Table | None:
    if not data.ensembles or not len(data.attacks):
        return None
    values, shown = [], []
    for ensemble in data.ensembles:
        jobs = {j for attack in ensemble["attacks"] for j in attack.get("jobs", [])}
        rows = data.attacks[data.attacks["job_id"].isin(jobs)]
        if not len(rows):
            continue
        names = [attack["attack"]["name"] for attack in ensemble["attacks"]]
        per_image = worst_case_rows([(name, rows[rows["attack"] == name], None) for name in names],
                                    ensemble["image_ids"])
        broken = per_image["broken_by"].to_numpy()
        caught = ~per_image["already_live"].to_numpy(dtype=bool)
        n, standing = len(caught), int((broken == "").sum())
        low, high = wilson_interval(standing, n)
        first = rows.iloc[0]
        record = {"Model": str(first["augment"]) if first["augment"] != "unknown" else ensemble["target"],
                  "Defence": str(first["defence"]), "Pixels": ensemble["pixels"], "Queries": ensemble["queries"],
                  "Spoofs": n, "Caught before": int(caught.sum()), "Still caught": standing,
                  "Robust recall": 100 * standing / n, "Robust recall CI low": 100 * low,
                  "Robust recall CI high": 100 * high}
        record.update({f"Broken first by {name}": int((broken == name).sum()) for name in names})
        values.append(record)
        shown.append({**{k: v for k, v in record.items() if "Robust recall" not in k},
                      "Robust recall (95 % CI)": f"{record['Robust recall']:.2f} [{100 * low:.1f}, {100 * high:.1f}]"})
    if not values:
        return None
    caption = ("Worst case over the attack ensemble (fasrobust robustness: sparse-rs at k isolated pixels, the "
               "structured patch attack, the DE; each image stops at its first verified success, a later attack "
               "gets only the images still standing): robust recall = spoofs still called spoof after every attack, "
               "of all the spoofs selected, with its Wilson 95 % interval; 'broken first by' counts the images each "
               f"attack flipped before the next one ran. Queries: per image, for each attack. {criterion_text(data.attacks)}.")
    return Table("worst-case", "Worst case over the attack ensemble", caption, pd.DataFrame(values),
                 pd.DataFrame(shown).replace({np.nan: "—"}))
