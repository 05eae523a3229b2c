"""The published numbers of Bousnina et al. 2020 (Tables 3-8), so the report can set ours beside them.

Report stage: `tables.py` asks `paper_augmentation_table` / `paper_steps_table` for the database of a
table and shows the published one next to ours, but only when the data is one of the paper's four
databases and not the synthetic sample. The numbers live in `paper_numbers.yaml` (percentages as printed).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import pandas as pd
import yaml

from .columns import AUGMENT_LABELS, PAPER_METRICS

#: Our database names (and common spellings) -> the paper's database keys in the YAML file.
_ALIASES = {
    "3dmad": "3dmad", "maskattack": "3dmad", "3d-mad": "3dmad",
    "casia-fasd": "casia-fasd", "casia": "casia-fasd", "casia_fasd": "casia-fasd",
    "replay-attack": "replay-attack", "replay": "replay-attack", "replayattack": "replay-attack",
    "rose-youtu": "rose-youtu", "rose": "rose-youtu", "rose_youtu": "rose-youtu",
}
#: The YAML keeps the paper's column names; its HTER sits next to ACC and reads as taken at 0.5 (it is
#: close to 100 - ACC throughout), so it is our `hter_fixed`.
_PAPER_COLUMNS = {"hter": "hter_fixed"}
DISPLAY_NAMES = {"3dmad": "3DMAD", "casia-fasd": "CASIA", "replay-attack": "Replay-Attack",
                 "rose-youtu": "ROSE-Youtu"}


@cache
def published() -> dict[str, Any]:
    """The YAML file as a dict (read once)."""
    text = (resources.files(__package__) / "paper_numbers.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def paper_database(name: str | None) -> str | None:
    """The paper's key for one of our database names, or None when it is not one of the four."""
    if not name:
        return None
    return _ALIASES.get(str(name).strip().lower())


def citation() -> str:
    return str(published()["source"])


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
