"""Attack rows as a tidy frame (report stage, results reader): one row per attacked image, joined with the
job that attacked it and the clean metrics of the system it attacked.

Columns beside the store's own (see `experiments/store.py`):
- `model_key`, `database`, `augment`, `steps`, `train_seed`, `model`, `variant`, `train_database` (set only
  when the model was trained on another database), `labels`: the attacked model, from the job's "system"
  (or a model folder's model.json for `fasrobust attack RUN_DIR`); "unknown" where nothing says;
- `defences` (the deployed stack as stored), `defence` (its label, "none" undefended), `eot_draws` (the
  answers each query averaged, the attack's `eot` setting: 1 for one answer);
- `pixels` (the attack's size field; 0 where it is open), `open_pixels` (True where the attack searched how
  many pixels each image needs: a decision-based attack without a pixel goal, or `pixels: auto`; such
  rows answer "how many pixels", `report/robustness.py`, not the paper's fixed-pixel questions),
  `budget` and `budget_field` (its budget field's value and name),
  `setting` (the other settings, as text) and `setting_key` (attack, other settings and seed: rows with one
  key come from one attack configuration; `eot` is left out, like the defence: it says how the pipeline was
  attacked, and a table shows it as its own row);
- `is_spoof`, `model_queries` (model evaluations, where a defence or eot asks the model several times per
  query), `system_key` and the system's metrics (`model_rows.metric_column_names`), `group` (the attack
  group of plan.json whose shard stored the row, "" when none does)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ...experiments.spec import STANDARD_VARIANT
from ...labels import BONA_FIDE
from .model_rows import (
    NO_INTERVAL,
    UNKNOWN,
    describe_defences,
    job_stack,
    job_system,
    metric_column_names,
    missing,
    model_key,
    system_key,
)

_SYSTEM_COLUMNS = ("database", "augment", "steps", "train_seed", "model", "variant")
_TEXT_COLUMNS = ("database", "augment", "model", "labels")
#: The attack setting that says how the pipeline was attacked, kept out of `setting_key`.
EOT = "eot"


def attack_columns(attacks: pd.Series, settings: pd.Series, seeds: pd.Series) -> pd.DataFrame:
    """Columns every attack has, read through its own settings model: `pixels` (its size field), `budget`
    and `budget_field` (its budget field), `eot_draws`, `setting` and `setting_key` (see the module doc)."""
    from ...attacks import attack_class
    from ...attacks.settings_model import AUTO_PIXELS
    from ...errors import AttackError

    out: dict[str, list] = {"pixels": [], "open_pixels": [], "budget": [], "budget_field": [], "eot_draws": [],
                            "setting": [], "setting_key": []}
    for attack, values, seed in zip(attacks, settings, seeds, strict=True):
        try:
            model = attack_class(attack).Settings
            size_field, budget_field = model.size_field, model.budget_field
        except AttackError:  # an attack this fasrobust does not have: shown by name, never computed with
            size_field, budget_field = "pixels", ""
        others = {k: v for k, v in values.items() if k not in (size_field, budget_field, EOT)}
        size = values.get(size_field, 0)
        out["pixels"].append(0 if size == AUTO_PIXELS else int(size or 0))
        out["open_pixels"].append(size == AUTO_PIXELS or not size)
        out["budget"].append(int(values.get(budget_field, 0)) if budget_field else 0)
        out["budget_field"].append(budget_field)
        out["eot_draws"].append(int(values.get(EOT) or 1))
        out["setting"].append(f"{attack} (" + ", ".join(f"{k} {v}" for k, v in others.items()) + ")")
        out["setting_key"].append(json.dumps([attack, others, int(seed)], sort_keys=True))
    return pd.DataFrame(out, index=attacks.index)


def queries_at_budget(rows: pd.DataFrame, budget: int) -> np.ndarray:
    """Per row: the query budget its attack would have had at `budget` in its own budget field (the attack's
    settings model says how: the DE's population per generation, Sparse-RS's queries themselves)."""
    from ...attacks import attack_settings

    cache: dict[str, int] = {}
    out = np.empty(len(rows))
    for i, (attack, settings, budget_field, key) in enumerate(zip(rows["attack"], rows["settings"],
                                                                  rows["budget_field"], rows["setting_key"],
                                                                  strict=True)):
        if key not in cache:
            cache[key] = attack_settings(attack, settings).queries_at(int(budget)) if budget_field else 0
        out[i] = cache[key]
    return out


def tidy_attacks(raw_rows: pd.DataFrame, jobs: pd.DataFrame, systems: pd.DataFrame,
                 groups_of_jobs: dict[str, str]) -> pd.DataFrame:
    """The store's attack rows with the columns of the module doc."""
    frame = raw_rows.copy()
    settings = {row.job_id: row.settings for row in jobs.itertuples() if row.kind == "attack"}
    job_settings = [settings.get(j, {}) for j in frame["job_id"]]
    frame["model_key"] = [model_key(s) for s in job_settings]
    stacks = {j: job_stack(s) for j, s in settings.items()}  # once per job: far fewer jobs than images
    labels = {j: describe_defences(s) for j, s in stacks.items()}
    frame["defences"] = [stacks.get(j, []) for j in frame["job_id"]]
    frame["defence"] = [labels.get(j, describe_defences([])) for j in frame["job_id"]]
    identities = [job_system(s) for s in job_settings]
    frame["train_database"] = [i.get("train_database") or None for i in identities]
    by_model = systems.drop_duplicates("model_key").set_index("model_key") if len(systems) else pd.DataFrame()
    for column in _SYSTEM_COLUMNS:
        values = []
        for identity, key in zip(identities, frame["model_key"], strict=True):
            value = identity.get(column)
            if value is None and column in by_model.columns and key in by_model.index:
                value = by_model.at[key, column]
            values.append(value)
        frame[column] = values
    frame["labels"] = [s.get("labels") for s in job_settings]
    for column in _TEXT_COLUMNS:
        frame[column] = [UNKNOWN if missing(v) else str(v) for v in frame[column]]
    frame["variant"] = [STANDARD_VARIANT if v in (UNKNOWN, "None") else v for v in frame["variant"].astype(str)]
    frame["steps"] = pd.array([None if missing(v) else int(v) for v in frame["steps"]], dtype="Int64")
    frame["train_seed"] = pd.array([None if missing(v) else int(v) for v in frame["train_seed"]], dtype="Int64")
    frame["is_spoof"] = frame["attack_type"] != BONA_FIDE
    frame["model_queries"] = [int((extra or {}).get("model_queries", q))
                              for extra, q in zip(frame["extra"], frame["queries"], strict=True)]
    generic = attack_columns(frame["attack"], frame["settings"], frame["seed"])
    for column in generic.columns:
        frame[column] = generic[column]
    frame["group"] = [groups_of_jobs.get(j, "") for j in frame["job_id"]]
    frame["system_key"] = [system_key(*k) for k in zip(frame["model_key"], frame["database"], frame["defence"],
                                                       strict=True)]
    known = systems.set_index("system_key") if len(systems) else pd.DataFrame()
    for column in [c for c in metric_column_names() if c in known.columns and c != "train_database"]:
        absent = NO_INTERVAL if column.endswith("_ci") else np.nan
        frame[column] = [known.at[k, column] if k in known.index else absent for k in frame["system_key"]]
    return frame


def empty_attacks() -> pd.DataFrame:
    """The frame of a run with no attack row yet (every column the views read)."""
    columns = ["job_id", "image_id", "source", "split", "attack_type", "attack", "settings", "seed", "answer",
               "threshold", "query_budget", "queries", "success", "already_live", "verified", "p_live_before",
               "p_live_after", "pixels_changed", "perturbation", "trajectory", "l0_trajectory", "start_image_id",
               "png", "note", "extra", "model_key", "defences", "defence", "train_database", *_SYSTEM_COLUMNS,
               "labels", "is_spoof", "model_queries", "pixels", "open_pixels", "budget", "budget_field", "eot_draws",
               "setting",
               "setting_key", "group", "system_key", *metric_column_names()]
    return pd.DataFrame(columns=list(dict.fromkeys(columns)))
