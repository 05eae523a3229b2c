"""The field's cross-database tables: train on one database, test on another.

Report stage: Results (data.py) -> `Table`s -> formats.py and html.py. For each model configuration
(augmentation, steps, architecture, seed) evaluated on a database it was not trained on: rows = training
database, columns = test database, cell = HTER on the test database at the EER threshold chosen on the
TRAINING database's dev split, with its interval; the diagonal holds the ordinary (intra-database)
evaluations. A second table per attack gives the recall drop under attack in the same layout. Undefended
systems only (defences have their own table). Synthetic databases are labelled as such in every header.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from ..experiments.spec import STANDARD_VARIANT
from .columns import augment_label
from .results import NO_DEFENCE, Results
from .summary import Selection, image_sets, recall_stats, rows_for, selections
from .tables import INTERVAL_NOTE, MISSING, Table, cell, database_label, is_synthetic, slug

CONFIG = ("augment", "variant", "steps", "model", "train_seed")
ROW_HEADER = "Trained on"
#: Thresholds this close are one threshold (they are stored as floats from the same computation).
SAME_THRESHOLD = 1e-9


def cross_database_tables(data: Results) -> list[Table]:
    systems = _systems(data)
    if systems.empty or not systems["cross"].any():
        return []
    tables = []
    for config, group in systems.groupby(list(CONFIG), dropna=False, sort=True):
        if not group["cross"].any():
            continue
        tables.append(_hter_table(data, dict(zip(CONFIG, config, strict=True)), group))
        tables += _attack_tables(data, dict(zip(CONFIG, config, strict=True)), group)
    return tables


def _systems(data: Results) -> pd.DataFrame:
    """Evaluated undefended systems with the database each model was trained on (`trained_on`)."""
    models = data.systems
    if not len(models) or "train_database" not in models.columns:
        return pd.DataFrame(columns=[*CONFIG, "cross"])
    frame = models[(models["defence"] == NO_DEFENCE) & models["evaluated"]].copy()
    frame["trained_on"] = [t if t is not None and not pd.isna(t) else d
                           for t, d in zip(frame["train_database"], frame["database"], strict=True)]
    frame["cross"] = frame["trained_on"] != frame["database"]
    for column in CONFIG:  # one spelling of "not set", so models group by what they share
        frame[column] = [str(v) if _given(v) else "" for v in frame[column]]
    return frame


def _given(value: Any) -> bool:
    return value is not None and value is not pd.NA and not (isinstance(value, float) and np.isnan(value))


def _label(data: Results, database: str) -> str:
    """"sample-a (sample, SYNTHETIC)": every header says when a database is not real data."""
    if not is_synthetic(data, database):
        return database_label(data, database)
    info = data.databases.get(database)
    source = f"{info.source}, " if info is not None and info.source not in (database, "unknown") else ""
    return f"{database} ({source}SYNTHETIC)"


def _config_text(config: dict[str, Any]) -> str:
    steps = f", {int(config['steps']):,} steps" if config["steps"] else ""
    seed = f", seed {config['train_seed']}" if config["train_seed"] else ""
    variant = f" ({config['variant']})" if config["variant"] not in ("", STANDARD_VARIANT) else ""
    return f"{config['model'] or 'model'}, {augment_label(config['augment'])}{variant}{steps}{seed}"


def _config_slug(config: dict[str, Any]) -> str:
    return slug("-".join(config[c] for c in CONFIG if config[c] and config[c] != STANDARD_VARIANT))


def _hter_table(data: Results, config: dict[str, Any], group: pd.DataFrame) -> Table:
    trained = sorted(group["trained_on"].unique())
    tested = sorted(group["database"].unique())
    cells = {(r.trained_on, r.database): r for r in group.itertuples()}
    values = pd.DataFrame({ROW_HEADER: trained})
    display = pd.DataFrame({ROW_HEADER: [_label(data, t) for t in trained]})
    for test in tested:
        found = [cells.get((t, test)) for t in trained]
        values[f"HTER on {test} (%)"] = [r.hter_eer if r is not None else np.nan for r in found]
        values[f"HTER on {test} CI low"] = [r.hter_eer_ci[0] if r is not None else np.nan for r in found]
        values[f"HTER on {test} CI high"] = [r.hter_eer_ci[1] if r is not None else np.nan for r in found]
        values[f"Threshold on {test}"] = [r.eer_threshold if r is not None else np.nan for r in found]
        display[f"Tested on {_label(data, test)}: HTER (%)"] = [
            cell("hter_eer", r.hter_eer, r.hter_eer_ci) if r is not None else MISSING for r in found]
    heading = f"Cross-database HTER at the training database's dev EER threshold ({_config_text(config)})"
    return Table(f"cross-database-hter-{_config_slug(config)}", heading, _hter_caption(data, group, trained),
                 values, display)


def _hter_caption(data: Results, group: pd.DataFrame, trained: list[str]) -> str:
    parts = [f"Rows: the database the model was trained on; columns: the database it was tested on. Cell: "
             f"HTER (%) on the test database's test split at the EER threshold chosen on the dev split of the "
             f"TRAINING database (the field's protocol: nothing is tuned on the test database); the diagonal "
             f"is the ordinary intra-database evaluation. {INTERVAL_NOTE}"]
    intra = {r.trained_on: r for r in group.itertuples() if not r.cross}
    shown = [f"{_label(data, t)} {intra[t].eer_threshold:.3f} ({intra[t].threshold_source})"
             for t in trained if t in intra and not pd.isna(intra[t].eer_threshold)]
    if shown:
        parts.append("Thresholds: " + "; ".join(shown) + ".")
    mismatched = [f"{_label(data, r.trained_on)} -> {_label(data, r.database)} used {r.eer_threshold:.3f}, not "
                  f"{intra[r.trained_on].eer_threshold:.3f}" for r in group.itertuples()
                  if r.cross and r.trained_on in intra
                  and not abs(r.eer_threshold - intra[r.trained_on].eer_threshold) <= SAME_THRESHOLD]
    if mismatched:
        parts.append("WARNING, threshold not the training database's: " + "; ".join(mismatched) + ".")
    synthetic = [_label(data, d) for d in sorted(set(group["database"]) | set(trained)) if is_synthetic(data, d)]
    if synthetic:
        parts.append(f"{', '.join(synthetic)}: SYNTHETIC sample databases standing in for a domain shift "
                     "(different seeds and camera or lighting settings), not real data.")
    return " ".join(parts)


# ----- recall drop under attack across databases -------------------------------------------------------------
def _attack_tables(data: Results, config: dict[str, Any], group: pd.DataFrame) -> list[Table]:
    rows = data.attacks
    if not len(rows) or "train_database" not in rows.columns:
        return []
    keys = set(group["model_key"])
    ours = rows[rows["model_key"].isin(keys) & (rows["defence"] == NO_DEFENCE)]
    cross = ours[ours["train_database"].notna()]
    by_attack: dict[str, list[Selection]] = {}
    for database in sorted(cross["database"].unique()):
        for sel in selections(data, cross[cross["database"] == database], database, cross_database=True,
                              variant=None):
            by_attack.setdefault(sel.attack, []).append(sel)
    return [_attack_table(data, config, ours, attack, sels) for attack, sels in sorted(by_attack.items())]


def _attack_table(data: Results, config: dict[str, Any], rows: pd.DataFrame, attack: str,
                  sels: list[Selection]) -> Table:
    found: dict[tuple[str, str], pd.DataFrame] = {}
    budgets: dict[str, Selection] = {}
    for sel in sels:  # the cross cells and, at the same attack configuration, the intra-database ones
        for scope in (sel, dataclasses.replace(sel, cross_database=False)):
            chosen = rows_for(rows, scope)
            trained_on = chosen["train_database"].where(chosen["train_database"].notna(), chosen["database"])
            for train, cells in chosen.groupby(trained_on):
                found[(str(train), sel.database)] = (cells, sel)
        budgets[sel.database] = sel
    trained = sorted({t for t, _ in found})
    tested = sorted(budgets)
    values = pd.DataFrame({ROW_HEADER: trained})
    display = pd.DataFrame({ROW_HEADER: [_label(data, t) for t in trained]})
    for test in tested:
        stats = [recall_stats(*_at_budget(found.get((t, test)))) if (t, test) in found else {} for t in trained]
        values[f"Recall drop on {test} (%)"] = [s.get("recall_drop", np.nan) for s in stats]
        values[f"Spoofs attacked on {test}"] = [s.get("spoofs", 0) for s in stats]
        display[f"Tested on {_label(data, test)}: recall drop (%)"] = [
            cell("recall_drop", s["recall_drop"], s.get("recall_drop_ci")) + f" (n={s['spoofs']})" if s
            else MISSING for s in stats]
    text = (f"Rows: training database; columns: test database. Cell: recall drop (percentage points) of the "
            f"undefended model under the {attack} attack on the test database's spoofs, n = spoofs attacked. "
            f"Attack per test database: " + "; ".join(f"{_label(data, d)}: {s.describe()}"
                                                       for d, s in budgets.items())
            + f". {_paired_text(data, found, tested)} {INTERVAL_NOTE}")
    heading = f"Cross-database recall drop under the {attack} attack ({_config_text(config)})"
    return Table(f"cross-database-{slug(attack)}-{_config_slug(config)}", heading, text, values, display)


def _paired_text(data: Results, found: dict[tuple[str, str], Any], tested: list[str]) -> str:
    """Per test database: whether every training database's model was attacked on the same spoofs."""
    parts = []
    for test in tested:
        paired, sizes = image_sets([cells for (_, t), (cells, _) in found.items() if t == test])
        parts.append(f"{_label(data, test)}: " + ("the same spoofs for every training database (paired)" if paired
                                                   else f"{min(sizes)}-{max(sizes)} spoofs, not the same ones"))
    return "Image sets: " + "; ".join(parts) + "."


def _at_budget(found: tuple[pd.DataFrame, Selection]) -> tuple[pd.DataFrame, int]:
    cells, sel = found
    return cells, sel.budget
