"""The paper's tables from stored rows: Tables 3-6 (per database, one row per augmentation setting) and
Tables 7-8 (per database, one column per number of training steps), with extra columns (APCER, BPCER,
ACER, verified attack success, median queries to success) and the published numbers beside ours.

Report stage: RunData (data.py) -> list[Table] -> formats.py writes Markdown, CSV and LaTeX, html.py
shows them. Every table's caption says which data, model, threshold and attack budget produced it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .columns import EXTRA_METRICS, PAPER_METRICS, STEPS_ROWS, TITLES, UNKNOWN, augment_label, augment_rank
from .data import RunData
from .paper_numbers import citation, paper_augmentation_table, paper_database, paper_steps_table
from .summary import Selection, model_metrics, recall_stats, rows_for, selections

MISSING = "—"
THRESHOLDS = ("ACC, precision, recall and APCER/BPCER/ACER at the paper's fixed threshold 0.5 (a face is "
              "called live iff P(live) >= 0.5); HTER at the EER threshold ({source}). Recall before and after "
              "over the attacked spoof test images; recall drop = before - after, in percentage points.")


@dataclass(frozen=True)
class Table:
    key: str  # file stem under report/tables/
    title: str
    caption: str
    values: pd.DataFrame  # numbers (the CSV)
    display: pd.DataFrame  # the same as text (Markdown, LaTeX, HTML)
    database: str = ""
    paper: Table | None = None  # the published table, where the database is one of the paper's


#: The paper's attack: only its tables stand beside the published numbers.
PAPER_ATTACK = "pixel"


def build_tables(data: RunData) -> list[Table]:
    return [*augmentation_tables(data), *comparison_tables(data), *steps_tables(data)]


def fmt(metric: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return MISSING
    if metric == "median_queries":
        return f"{float(value):,.0f}"
    if metric == "spoofs":
        return str(int(value))
    return f"{float(value):.2f}"


# ----- Tables 3-6 --------------------------------------------------------------------------------------------
def augmentation_tables(data: RunData) -> list[Table]:
    tables = []
    for database in _databases(data):
        for sel in selections(data, data.attacks[data.attacks["database"] == database], database):
            tables.append(_augmentation_table(data, database, sel))
    return tables


def _augmentation_table(data: RunData, database: str, sel: Selection) -> Table:
    rows = rows_for(data.attacks, sel)
    records = []
    for (augment, seed), group in rows.groupby(["augment", "train_seed"], dropna=False, sort=False):
        records.append({"augment": augment, "train_seed": seed, **model_metrics(group),
                        **recall_stats(group, sel.budget)})
    seen = {r["augment"] for r in records}
    records += [{"augment": a} for a in _planned_augments(data, database) if a not in seen]
    frame = pd.DataFrame(records)
    frame["rank"] = frame["augment"].map(augment_rank)
    frame = frame.sort_values(["rank", "augment"], kind="stable").reset_index(drop=True)
    seeds = frame["train_seed"].dropna().nunique() if "train_seed" in frame else 0
    labels = [augment_label(a) + (f" (seed {s})" if seeds > 1 and not pd.isna(s) else "")
              for a, s in zip(frame["augment"], frame.get("train_seed", [None] * len(frame)), strict=True)]
    metrics = [*PAPER_METRICS, *EXTRA_METRICS]
    values = pd.DataFrame({"DA used": labels, "augment": frame["augment"]})
    for m in (*metrics, "recall_eval"):
        values[m] = pd.to_numeric(frame.get(m, pd.Series([np.nan] * len(frame))), errors="coerce")
    display = pd.DataFrame({"DA used": labels, **{TITLES[m]: [fmt(m, v) for v in values[m]] for m in metrics}})
    values = values.rename(columns={**TITLES, "recall_eval": "Recall, evaluation (%)"})
    paper = _paper_augmentation(data, database) if sel.attack == PAPER_ATTACK else None
    if paper is not None:  # the published drop right beside ours, row by row
        published = paper.values.set_index("DA used")
        for column in ("Recall after (%)", "Recall drop (%)"):
            numbers = [published[column].get(label, np.nan) for label in labels]
            values[f"Paper {column[0].lower()}{column[1:]}"] = numbers
            display.insert(display.columns.get_loc(column) + 1, f"Paper {column[0].lower()}{column[1:]}",
                           [fmt("recall", v) for v in numbers])
    return Table(f"augmentation-{_slug(database)}-{_slug(sel.attack)}", _aug_title(data, database, sel),
                 _caption(data, database, sel, rows), values, display, database, paper)


def _aug_title(data: RunData, database: str, sel: Selection) -> str:
    paper = paper_augmentation_table(_source(data, database)) if sel.attack == PAPER_ATTACK else None
    cf = f" (the paper's Table {paper[1]['table']})" if paper and not _synthetic(data, database) else ""
    return (f"{_display(data, database)}: anti-spoofing performance and recall drop under the "
            f"{sel.pixels}-pixel {sel.attack} attack{cf}")


def _paper_augmentation(data: RunData, database: str) -> Table | None:
    found = None if _synthetic(data, database) else paper_augmentation_table(_source(data, database))
    if found is None:
        return None
    frame, info = found
    display = pd.DataFrame({"DA used": frame["setting"], **{TITLES[m]: [fmt(m, v) for v in frame[m]]
                                                             for m in PAPER_METRICS}})
    values = frame.drop(columns=["augment"]).rename(columns={"setting": "DA used", **TITLES})
    caption = (f"Published: {citation()}, Table {info['table']} ({info['database']}, {info['steps']:,} training "
               f"steps, {info['pixels']} pixels, {info['iterations']} iterations). Their model and data, not ours.")
    return Table(f"paper-table{info['table']}", f"Paper, Table {info['table']}: {info['database']}", caption,
                 values, display, database)


# ----- Tables 7-8 --------------------------------------------------------------------------------------------
def steps_tables(data: RunData) -> list[Table]:
    tables = []
    for database in _databases(data):
        for sel in selections(data, data.attacks[data.attacks["database"] == database], database):
            tables += _steps_tables(data, database, sel)
    return tables


def _steps_tables(data: RunData, database: str, sel: Selection) -> list[Table]:
    tables = []
    rows = rows_for(data.attacks, sel, steps=False)
    for augment, group in rows.groupby("augment", sort=False):
        steps = sorted(int(s) for s in group["steps"].dropna().unique())
        if len(steps) < 2:
            continue
        stats = {s: {**model_metrics(g), **recall_stats(g, sel.budget)}
                 for s, g in group.groupby("steps") if int(s) in steps}
        columns = [f"{s:,}" for s in steps]
        values = pd.DataFrame({"Stage": [r[0] for r in STEPS_ROWS], "Metric": [TITLES[r[1]] for r in STEPS_ROWS],
                               **{c: [stats[s].get(r[1], np.nan) for r in STEPS_ROWS]
                                  for c, s in zip(columns, steps, strict=True)}})
        display = values.copy()
        for c in columns:
            display[c] = [fmt(r[1], v) for r, v in zip(STEPS_ROWS, values[c], strict=True)]
        step_sel = dataclasses.replace(sel, steps=None)
        title = (f"{_display(data, database)}: recall at different numbers of training steps "
                 f"({augment_label(augment)}, {sel.attack}, {sel.pixels} pixels, {sel.budget} "
                 f"{sel.budget_field})")
        paper = _paper_steps(data, database) if sel.attack == PAPER_ATTACK else None
        tables.append(Table(f"training-steps-{_slug(database)}-{_slug(sel.attack)}-{_slug(augment)}", title,
                            _caption(data, database, step_sel, group), values, display, database, paper))
    return tables


# ----- attacks side by side ------------------------------------------------------------------------------------
def comparison_tables(data: RunData) -> list[Table]:
    """Per database with two or more attacks: each model's spoofs under each attack's main configuration,
    all cut at the same query budget (the smallest of theirs), so success and queries compare directly."""
    tables = []
    for database in _databases(data):
        sels = selections(data, data.attacks[data.attacks["database"] == database], database)
        if len(sels) < 2:
            continue
        budget = min(s.query_budget for s in sels)
        records: list[dict[str, Any]] = []
        for sel in sels:
            rows = rows_for(data.attacks, sel)
            for augment, group in sorted(rows.groupby("augment"), key=lambda kv: augment_rank(kv[0])):
                stats = recall_stats(group, queries=budget)
                records.append({"Model": augment_label(augment), "Attack": sel.attack, "Setting": sel.describe(),
                                "Spoofs": stats["spoofs"], "Recall after (%)": stats["recall_after"],
                                "Recall after 95% CI": _interval(stats["recall_after_ci"]),
                                "Attack success, verified (%)": stats["success_verified"],
                                "Success 95% CI": _interval(stats["success_ci"]),
                                "Median queries to success": stats["median_queries"]})
        values = pd.DataFrame(records)
        display = values.copy()
        for column, metric in (("Recall after (%)", "recall"), ("Attack success, verified (%)", "recall"),
                               ("Median queries to success", "median_queries")):
            display[column] = [fmt(metric, v) for v in values[column]]
        title = f"{_display(data, database)}: the attacks side by side at {budget:,} queries per image"
        caption = (f"Data: {_display(data, database)}" + (" (SYNTHETIC sample database)" if _synthetic(data, database)
                                                          else "") + f", split {_splits(data.attacks)}. "
                   f"Every attack's results are cut at {budget:,} queries per image (the smallest budget of the "
                   f"attacks shown; an image fooled later counts as not fooled), read from the stored query "
                   f"counts of each attack's own run. Success = spoof called live after the attack, re-verified "
                   f"from the saved PNG, over the spoofs that were not already called live; Wilson 95 % "
                   f"intervals. The criterion: called live iff P(live) >= {_thresholds(data.attacks)}.")
        tables.append(Table(f"attacks-{_slug(database)}", title, caption, values, display, database))
    return tables


def _interval(ci: tuple[float, float]) -> str:
    lo, hi = ci
    return MISSING if lo != lo else f"{lo:.1f}-{hi:.1f}"


def _thresholds(rows: pd.DataFrame) -> str:
    values = sorted({float(t) for t in rows.get("threshold", pd.Series([0.5]))})
    return ", ".join(f"{v:g}" for v in values) or "0.5"


def _paper_steps(data: RunData, database: str) -> Table | None:
    found = None if _synthetic(data, database) else paper_steps_table(_source(data, database))
    if found is None:
        return None
    frame, info = found
    by_steps = frame.set_index("steps")
    columns = [f"{s:,}" for s in by_steps.index]
    paper_rows = [r for r in STEPS_ROWS if r[1] in PAPER_METRICS]
    values = pd.DataFrame({"Stage": [r[0] for r in paper_rows], "Metric": [TITLES[r[1]] for r in paper_rows],
                           **{c: [by_steps.at[s, r[1]] for r in paper_rows]
                              for c, s in zip(columns, by_steps.index, strict=True)}})
    display = values.copy()
    for c in columns:
        display[c] = [fmt(r[1], v) for r, v in zip(paper_rows, values[c], strict=True)]
    caption = (f"Published: {citation()}, Table {info['table']} ({info['database']}, augmentation: "
               f"{info['augment']} (inferred), {info['pixels']} pixels, {info['iterations']} iterations).")
    return Table(f"paper-table{info['table']}", f"Paper, Table {info['table']}: {info['database']}", caption,
                 values, display, database)


# ----- shared -------------------------------------------------------------------------------------------------
def _caption(data: RunData, database: str, sel: Selection, rows: pd.DataFrame) -> str:
    models = sorted({m for m in rows["model"].unique() if m != UNKNOWN}) or [UNKNOWN]
    sources = sorted({s for s in rows.get("threshold_source", pd.Series(dtype=object)).dropna().astype(str)
                      if s != UNKNOWN}) or ["threshold source unknown"]
    spoofs = rows[rows["is_spoof"]].groupby("model_key").size()
    per_model = (f"{spoofs.min()}" if len(spoofs) and spoofs.min() == spoofs.max()
                 else f"{spoofs.min()}-{spoofs.max()}" if len(spoofs) else "0")
    steps = f", {sel.steps:,} training steps" if sel.steps is not None else ""
    parts = [f"Data: {_display(data, database)}" + (" (SYNTHETIC sample database)" if _synthetic(data, database)
                                                     else "") + f", split {_splits(rows)}, {per_model} spoof "
             f"images attacked per model.",
             f"Model: {', '.join(models)}{steps}.",
             f"Attack: {sel.describe()}.",
             THRESHOLDS.format(source="; ".join(sources)), sel.budget_note()]
    if sel.alternatives:
        parts.append(f"{sel.alternatives} other {sel.attack} setting(s) stored for this database are not shown "
                     "here.")
    if any(pd.isna(rows.get("acc", pd.Series([np.nan])))):
        parts.append("A model without an evaluation shows — for ACC, HTER and precision.")
    return " ".join(p for p in parts if p)


def _splits(rows: pd.DataFrame) -> str:
    return ", ".join(sorted(rows["split"].astype(str).unique())) or UNKNOWN


def _databases(data: RunData) -> list[str]:
    return sorted(data.attacks["database"].unique()) if len(data.attacks) else []


def _planned_augments(data: RunData, database: str) -> list[str]:
    """Augmentation settings the spec's grid trains for this database (rows still to come show —)."""
    names = {d.get("name") for d in data.spec.get("databases") or [] if isinstance(d, dict)}
    return [str(a) for a in data.grid_values("augment")] if database in names else []


def _source(data: RunData, database: str) -> str:
    info = data.databases.get(database)
    return info.source if info is not None and paper_database(info.source) else database


def _synthetic(data: RunData, database: str) -> bool:
    info = data.databases.get(database)
    return bool(data.spec.get("synthetic")) or (info is not None and info.synthetic)


def _display(data: RunData, database: str) -> str:
    info = data.databases.get(database)
    if info is not None and info.source not in (database, UNKNOWN):
        return f"{database} ({info.source})"
    return database


def _slug(text: Any) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in str(text)).strip("-") or UNKNOWN
