"""The paper's tables from stored rows: Tables 3-6 (per database, one row per augmentation setting) and
Tables 7-8 (per database, one column per number of training steps), with extra columns (the field's HTER
at the dev EER threshold, APCER, BPCER, ACER, verified attack success, median queries to success), the
published numbers beside ours, and the attacks side by side; then the defence tables (defence_tables.py)
and the cross-database tables (cross_database.py), built on the `Table` and cell helpers here.

Report stage: Results (data.py) -> list[Table] -> formats.py writes Markdown, CSV and LaTeX, html.py
shows them. Every rate carries its 95 % interval in its cell ("81.00 [72.2, 88.1]"); every caption says
which images (how many, paired across rows or not), model, threshold and attack budget produced it. The
paper's tables hold undefended systems tested on their own training database only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..paper import PAPER_ATTACK
from .columns import (
    EXTRA_METRICS,
    INTERVALS,
    PAPER_METRICS,
    STEPS_ROWS,
    TITLES,
    UNKNOWN,
    augment_label,
    augment_rank,
    criterion_text,
    title,
)
from .paper_numbers import citation, paper_augmentation_table, paper_database, paper_steps_table
from .results import NO_INTERVAL, Results
from .summary import Selection, image_sets, model_metrics, recall_stats, rows_for, selections

MISSING = "—"
THRESHOLDS = ("ACC, HTER @ 0.5, precision and APCER/BPCER/ACER at the paper's fixed threshold 0.5 (a face is "
              "called live iff P(live) >= 0.5), over the model's whole test split{images}; HTER @ dev EER thr. "
              "at the EER threshold chosen on the dev split ({source}). Recall before and after over the "
              "attacked spoof images their headers name; recall drop = before - after, in percentage points.")
INTERVAL_NOTE = ("Brackets: 95 % intervals (Wilson for rates over images; bootstrap, resampling whole videos "
                 "where frames share one, for HTER and the recall drop).")


@dataclass(frozen=True)
class Table:
    key: str  # file stem under report/tables/
    title: str
    caption: str
    values: pd.DataFrame  # numbers (the CSV)
    display: pd.DataFrame  # the same as text (Markdown, LaTeX, HTML)
    database: str = ""
    paper: Table | None = None  # the published table, where the database is one of the paper's



def build_tables(data: Results) -> list[Table]:
    """Every table the stored rows allow; the defence and cross-database ones only where such rows exist."""
    from .cross_database import cross_database_tables  # both build on this module's Table and cells
    from .defence_tables import defence_tables
    from .robustness import median_table
    from .worst_case import worst_case_table

    extra = [t for t in (worst_case_table(data), median_table(data.attacks)) if t is not None]
    return [*augmentation_tables(data), *comparison_tables(data), *steps_tables(data), *defence_tables(data),
            *cross_database_tables(data), *extra]


def fmt(metric: str, value: Any) -> str:
    if _absent(value):
        return MISSING
    if metric in ("median_queries", "model_queries"):
        return f"{float(value):,.0f}"
    if metric == "spoofs":
        return str(int(value))
    return f"{float(value):.2f}"


def cell(metric: str, value: Any, interval: Any = None) -> str:
    """A number with its 95 % interval when there is one: "81.00 [72.2, 88.1]"."""
    text = fmt(metric, value)
    if text == MISSING or not isinstance(interval, tuple | list) or len(interval) != 2 or _absent(interval[0]):
        return text
    return f"{text} [{float(interval[0]):.1f}, {float(interval[1]):.1f}]"


def interval_of(stats: dict[str, Any], metric: str) -> tuple[float, float]:
    value = stats.get(INTERVALS.get(metric, ""), NO_INTERVAL)
    return tuple(value) if isinstance(value, tuple | list) and len(value) == 2 else NO_INTERVAL


def metric_frames(labels: dict[str, list[Any]], records: list[dict[str, Any]], metrics: list[str],
                  spoofs: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(values, display) for one row per record: `labels` first, then each metric as a number (with
    '<title> CI low/high' where it has an interval) and as a cell (header naming its image set)."""
    values, display = pd.DataFrame(labels), pd.DataFrame(labels)
    for m in metrics:
        numbers = pd.to_numeric(pd.Series([r.get(m, np.nan) for r in records], dtype=object), errors="coerce")
        values[TITLES[m]] = numbers.to_numpy()
        if m in INTERVALS:
            cis = [interval_of(r, m) for r in records]
            values[f"{TITLES[m]} CI low"] = [c[0] for c in cis]
            values[f"{TITLES[m]} CI high"] = [c[1] for c in cis]
            display[title(m, spoofs)] = [cell(m, v, c) for v, c in zip(numbers, cis, strict=True)]
        else:
            display[title(m, spoofs)] = [fmt(m, v) for v in numbers]
    return values, display


def common_spoofs(groups: list[pd.DataFrame]) -> int | None:
    """The number of attacked spoofs when every row has the same, for the headers (None: they differ)."""
    _, sizes = image_sets(groups)
    return sizes[0] if sizes and len(set(sizes)) == 1 else None


def image_set_text(groups: list[pd.DataFrame]) -> str:
    """The caption's image set: how many spoofs each row attacked, and whether the same ones (paired)."""
    paired, sizes = image_sets(groups)
    if not sizes:
        return ""
    if len(sizes) == 1:
        return f"Image set: {sizes[0]} spoof images."
    if paired:
        return (f"Image set: the same {sizes[0]} spoof images (the same FaceSet ids) in every row: paired "
                "across settings.")
    return (f"Image set: {min(sizes)}-{max(sizes)} spoof images per row, not the same images in every row: "
            "not paired, so rows differ by their images as well as their settings.")


def _absent(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


# ----- Tables 3-6 --------------------------------------------------------------------------------------------
def augmentation_tables(data: Results) -> list[Table]:
    tables = []
    for database in _databases(data):
        for sel in selections(data, data.attacks[data.attacks["database"] == database], database):
            tables.append(_augmentation_table(data, database, sel))
    return tables


def _augmentation_table(data: Results, database: str, sel: Selection) -> Table:
    rows = rows_for(data.attacks, sel)
    records, groups = [], []
    for (augment, seed), group in rows.groupby(["augment", "train_seed"], dropna=False, sort=False):
        records.append({"augment": augment, "train_seed": seed, **model_metrics(group),
                        **recall_stats(group, sel.budget)})
        groups.append(group)
    seen = {r["augment"] for r in records}
    records += [{"augment": a, "train_seed": np.nan} for a in _planned_augments(data, database) if a not in seen]
    records.sort(key=lambda r: (augment_rank(r["augment"]), str(r["augment"])))
    seeds = len({r["train_seed"] for r in records if not _absent(r["train_seed"])})
    labels = [augment_label(r["augment"])
              + (f" (seed {r['train_seed']})" if seeds > 1 and not _absent(r["train_seed"]) else "")
              for r in records]
    metrics = [*PAPER_METRICS, *EXTRA_METRICS]
    spoofs = common_spoofs(groups)
    values, display = metric_frames({"DA used": labels}, records, metrics, spoofs)
    values.insert(1, "augment", [r["augment"] for r in records])
    values["Recall, evaluation (%)"] = pd.to_numeric(pd.Series([r.get("recall_eval") for r in records]),
                                                     errors="coerce")
    paper = _paper_augmentation(data, database) if sel.attack == PAPER_ATTACK else None
    if paper is not None:  # the published numbers right beside ours, row by row
        published = paper.values.set_index("DA used")
        for metric in ("recall_after", "recall_drop"):
            column = TITLES[metric]
            numbers = [published[column].get(label, np.nan) for label in labels]
            name = f"Paper {column[0].lower()}{column[1:]}"
            values[name] = numbers
            display.insert(display.columns.get_loc(title(metric, spoofs)) + 1, name,
                           [fmt("recall", v) for v in numbers])
    return Table(f"augmentation-{slug(database)}-{slug(sel.attack)}", _aug_title(data, database, sel),
                 caption(data, database, sel, rows, groups), values, display, database, paper)


def _aug_title(data: Results, database: str, sel: Selection) -> str:
    paper = paper_augmentation_table(_source(data, database)) if sel.attack == PAPER_ATTACK else None
    cf = f" (the paper's Table {paper[1]['table']})" if paper and not is_synthetic(data, database) else ""
    return (f"{database_label(data, database)}: anti-spoofing performance and recall drop under the "
            f"{sel.pixels}-pixel {sel.attack} attack{cf}")


def _paper_augmentation(data: Results, database: str) -> Table | None:
    found = None if is_synthetic(data, database) else paper_augmentation_table(_source(data, database))
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
def steps_tables(data: Results) -> list[Table]:
    tables = []
    for database in _databases(data):
        for sel in selections(data, data.attacks[data.attacks["database"] == database], database):
            tables += _steps_tables(data, database, sel)
    return tables


def _steps_tables(data: Results, database: str, sel: Selection) -> list[Table]:
    tables = []
    rows = rows_for(data.attacks, sel, steps=False)
    for augment, group in rows.groupby("augment", sort=False):
        steps = sorted(int(s) for s in group["steps"].dropna().unique())
        if len(steps) < 2:
            continue
        by_steps = {s: g for s, g in group.groupby("steps") if int(s) in steps}
        stats = {s: {**model_metrics(g), **recall_stats(g, sel.budget)} for s, g in by_steps.items()}
        spoofs = common_spoofs(list(by_steps.values()))
        columns = [f"{s:,}" for s in steps]
        metrics = [r[1] for r in STEPS_ROWS]
        values = pd.DataFrame({"Stage": [r[0] for r in STEPS_ROWS], "Metric": [TITLES[m] for m in metrics],
                               **{c: [stats[s].get(m, np.nan) for m in metrics]
                                  for c, s in zip(columns, steps, strict=True)}})
        display = pd.DataFrame({"Stage": values["Stage"], "Metric": [title(m, spoofs) for m in metrics],
                                **{c: [cell(m, stats[s].get(m, np.nan), interval_of(stats[s], m)) for m in metrics]
                                   for c, s in zip(columns, steps, strict=True)}})
        step_sel = dataclasses.replace(sel, steps=None)
        heading = (f"{database_label(data, database)}: recall at different numbers of training steps "
                   f"({augment_label(augment)}, {sel.attack}, {sel.pixels} pixels, {sel.budget} "
                   f"{sel.budget_field})")
        paper = _paper_steps(data, database) if sel.attack == PAPER_ATTACK else None
        tables.append(Table(f"training-steps-{slug(database)}-{slug(sel.attack)}-{slug(augment)}", heading,
                            caption(data, database, step_sel, group, list(by_steps.values())), values, display,
                            database, paper))
    return tables


# ----- attacks side by side ------------------------------------------------------------------------------------
def comparison_tables(data: Results) -> list[Table]:
    """Per database with two or more attacks: each model's spoofs under each attack's main configuration,
    all cut at the same query budget (the smallest of theirs), so success and queries compare directly."""
    tables = []
    for database in _databases(data):
        sels = selections(data, data.attacks[data.attacks["database"] == database], database)
        if len(sels) < 2:
            continue
        budget = min(s.query_budget for s in sels)
        records: list[dict[str, Any]] = []
        groups: list[pd.DataFrame] = []
        for sel in sels:
            rows = rows_for(data.attacks, sel)
            for augment, group in sorted(rows.groupby("augment"), key=lambda kv: augment_rank(kv[0])):
                records.append({"Model": augment_label(augment), "Attack": sel.attack, "Setting": sel.describe(),
                                **recall_stats(group, queries=budget)})
                groups.append(group)
        labels = {k: [r[k] for r in records] for k in ("Model", "Attack", "Setting")}
        values, display = metric_frames(labels, records, ["spoofs", "recall_after", "success_verified",
                                                          "median_queries"], common_spoofs(groups))
        heading = f"{database_label(data, database)}: the attacks side by side at {budget:,} queries per image"
        text = (f"Data: {database_label(data, database)}" + _synthetic_note(data, database) +
                f", split {_splits(data.attacks)}. {image_set_text(groups)} "
                f"Every attack's results are cut at {budget:,} queries per image (the smallest budget of the "
                f"attacks shown; an image fooled later counts as not fooled), read from the stored query "
                f"counts of each attack's own run. Success = spoof called live after the attack, re-verified "
                f"from the saved PNG, over the spoofs that were not already called live. Undefended models "
                f"tested on their own training database. The criterion: {criterion_text(data.attacks)}. "
                f"{INTERVAL_NOTE}")
        tables.append(Table(f"attacks-{slug(database)}", heading, text, values, display, database))
    return tables


def _paper_steps(data: Results, database: str) -> Table | None:
    found = None if is_synthetic(data, database) else paper_steps_table(_source(data, database))
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
def caption(data: Results, database: str, sel: Selection, rows: pd.DataFrame, groups: list[pd.DataFrame]) -> str:
    """Data, image set (paired or not), model, attack and budget, thresholds, intervals, what is absent."""
    models = sorted({m for m in rows["model"].unique() if m != UNKNOWN}) or [UNKNOWN]
    sources = sorted({s for s in rows.get("threshold_source", pd.Series(dtype=object)).dropna().astype(str)
                      if s != UNKNOWN}) or ["threshold source unknown"]
    evaluated = sorted({int(n) for n in rows.get("eval_images", pd.Series(dtype=float)).dropna()})
    images = f" ({', '.join(str(n) for n in evaluated)} images)" if evaluated else ""
    steps = f", {sel.steps:,} training steps" if sel.steps is not None else ""
    scope = ("Undefended models tested on their own training database." if sel.defence == "none"
             and not sel.cross_database else "")
    parts = [f"Data: {database_label(data, database)}" + _synthetic_note(data, database) +
             f", split {_splits(rows)}.", image_set_text(groups),
             f"Model: {', '.join(models)}{steps}. {scope}",
             f"Attack: {sel.describe()}.",
             THRESHOLDS.format(source="; ".join(sources), images=images), INTERVAL_NOTE, sel.budget_note()]
    if groups and "recall_drop_ci" not in recall_stats(groups[0], sel.budget):
        parts.append("The recall drop shows no interval: this fasrobust's attack statistics give none.")
    if sel.alternatives:
        parts.append(f"{sel.alternatives} other {sel.attack} setting(s) stored for this database are not shown "
                     "here.")
    if any(pd.isna(rows.get("acc", pd.Series([np.nan])))):
        parts.append("A model without an evaluation shows — for ACC, HTER and precision.")
    return " ".join(p.strip() for p in parts if p)


def _splits(rows: pd.DataFrame) -> str:
    return ", ".join(sorted(rows["split"].astype(str).unique())) or UNKNOWN


def _databases(data: Results) -> list[str]:
    return sorted(data.attacks["database"].unique()) if len(data.attacks) else []


def _planned_augments(data: Results, database: str) -> list[str]:
    """Augmentation settings the spec's grid trains for this database (rows still to come show —)."""
    return [str(a) for a in data.grid_values("augment")] if database in data.spec.database_names() else []


def _source(data: Results, database: str) -> str:
    info = data.databases.get(database)
    return info.source if info is not None and paper_database(info.source) else database


def is_synthetic(data: Results, database: str) -> bool:
    info = data.databases.get(database)
    return data.spec.synthetic or (info is not None and info.synthetic)


def _synthetic_note(data: Results, database: str) -> str:
    return " (SYNTHETIC sample database)" if is_synthetic(data, database) else ""


def database_label(data: Results, database: str) -> str:
    info = data.databases.get(database)
    if info is not None and info.source not in (database, UNKNOWN):
        return f"{database} ({info.source})"
    return database


def slug(text: Any) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in str(text)).strip("-") or UNKNOWN
