"""The published numbers of Bousnina et al. 2020 (Tables 3-8), so the report can set ours beside them.

Report stage: `tables.py` asks `paper_augmentation_table` / `paper_steps_table` for the database of a
table and shows the published one next to ours, but only when the data is one of the paper's four
databases and not the synthetic sample. The numbers themselves are in `fasrobust.paper`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..paper import DISPLAY_NAMES, citation, paper_database, published
from .columns import AUGMENT_LABELS, PAPER_METRICS

#: The YAML keeps the paper's column names; its HTER sits next to ACC and reads as taken at 0.5 (it is
#: close to 100 - ACC throughout), so it is our `hter_fixed`.
_PAPER_COLUMNS = {"hter": "hter_fixed"}

__all__ = ["DISPLAY_NAMES", "citation", "paper_augmentation_table", "paper_database", "paper_steps_table",
           "published"]


def paper_augmentation_table(database: str | None) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """Tables 3-6 for a database: rows = augmentation setting, columns = PAPER_METRICS (percent),
    plus the table's number, steps, pixels and iterations; None when the paper has no such table."""
    key = paper_database(database)
    entry = published()["augmentation"].get(key) if key else None
    if entry is None:
        return None
    frame = pd.DataFrame([{"augment": aug, **values} for aug, values in entry["rows"].items()])
    frame = frame.rename(columns=_PAPER_COLUMNS)
    frame.insert(0, "setting", frame["augment"].map(lambda a: AUGMENT_LABELS.get(a, a)))
    info = {k: entry[k] for k in ("table", "steps", "pixels", "iterations")}
    return frame[["setting", "augment", *PAPER_METRICS]], {**info, "database": DISPLAY_NAMES[key]}


def paper_steps_table(database: str | None) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """Tables 7-8 for a database: rows = training steps, columns = PAPER_METRICS; None if absent."""
    key = paper_database(database)
    entry = published()["training_steps"].get(key) if key else None
    if entry is None:
        return None
    frame = pd.DataFrame([{"steps": int(steps), **values} for steps, values in entry["columns"].items()])
    frame = frame.rename(columns=_PAPER_COLUMNS)
    info = {k: entry[k] for k in ("table", "augment", "pixels", "iterations")}
    return frame[["steps", *PAPER_METRICS]], {**info, "database": DISPLAY_NAMES[key]}
