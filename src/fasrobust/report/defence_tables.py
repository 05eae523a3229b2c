"""The defence table: per database and attack, what each defence stack buys and what it costs.

Report stage: Results (data.py) -> one `Table` per (database, attack) with a defended row -> formats.py
and html.py. Rows are systems (a model behind a stack, "none" first): clean ACC, HTER at 0.5 and at the
dev EER threshold, APCER, BPCER, ACER with intervals, from the defended evaluation; recall before, after
and its drop under the attack, success and median queries of the defended system (and of the model
behind it where a defence queries the model several times per query); the inference-time ratio against
the undefended model. A row attacked with expectation over transformation (the attack's `eot`) is its own
row, named so.

The countermeasure goal (`goal.py`: halve the 9-pixel recall drop at a cost of at most 1 point of clean
accuracy) is a column computed from the rows as measured, against the row named beside it, never tuned.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..experiments.attack_stats import fooled_within
from ..experiments.spec import STANDARD_VARIANT
from .columns import TITLES, augment_label, augment_rank, criterion_text
from .defence_worst_case import WorstCase, worst_cases
from .goal import goal_text, meets_goal, references
from .results import NO_DEFENCE, Results, queries_at_budget
from .summary import Selection, model_metrics, recall_stats, rows_for, selections
from .tables import (
    INTERVAL_NOTE,
    MISSING,
    THRESHOLDS,
    Table,
    database_label,
    image_set_text,
    is_synthetic,
    metric_frames,
    slug,
)

CLEAN = ["acc", "hter_fixed", "hter_eer", "apcer", "bpcer", "acer"]
ATTACKED = ["recall", "recall_after", "recall_drop", "success_verified", "median_queries"]
MEETS, COMPARED, MISSES = "Meets the goal", "Compared with", "Misses the goal by"


def defence_tables(data: Results) -> list[Table]:
    """Per database: the worst case over its attacks (when two or more ran at one pixel count), then one
    table per attack, where some attacked system is defended (same-database models)."""
    rows = data.attacks
    if not len(rows) or "defence" not in rows.columns:
        return []
    worst = {case.database: worst_case_table(data, case) for case in worst_cases(data)}
    own = rows[rows["train_database"].isna()]
    tables = []
    for database in sorted(own["database"].unique()):
        here = own[own["database"] == database]
        if database in worst:
            tables.append(worst[database])
        if (here["defence"] == NO_DEFENCE).all():
            continue
        tables += [_table(data, database, sel) for sel in selections(data, here, database, defence=None,
                                                                     variant=None)]
    return tables


def _table(data: Results, database: str, sel: Selection) -> Table:
    rows = rows_for(data.attacks, sel)
    systems = sorted(rows.groupby(["model_key", "defence", "eot_draws"], sort=False), key=lambda kv: _order(*kv))
    groups = [g for _, g in systems]
    several_seeds = len({g["train_seed"].iloc[0] for g in groups} - {pd.NA}) > 1
    records = [_record(g, sel, several_seeds) for g in groups]
    _mark_goal(records)
    with_model_queries = any((g["model_queries"] != g["queries"]).any() for g in groups)
    metrics = [*CLEAN, *ATTACKED, *(["model_queries"] if with_model_queries else []), "latency_ratio"]
    labels = {"Model": [r["model_label"] for r in records], "Defence": [r["defence"] for r in records]}
    values, display = metric_frames(labels, records, metrics, _spoofs(groups))
    _goal_columns(values, display, [r["meets"] for r in records], [r["reference_label"] for r in records])
    heading = (f"{database_label(data, database)}: defences against the {sel.pixels}-pixel {sel.attack} attack "
               f"(clean performance, recall drop, cost)")
    text = _caption(data, database, sel, rows, groups, records, with_model_queries)
    return Table(f"defences-{slug(database)}-{slug(sel.attack)}", heading, text, values, display, database)


def _order(key: tuple[str, str, int], group: pd.DataFrame) -> tuple:
    """The paper's augmentation order, standard training first, then each model's stacks, "none" first,
    each on one answer per query before the attack's averaged answers (eot)."""
    first = group.iloc[0]
    variant = str(first["variant"])
    return (augment_rank(first["augment"]), str(first["augment"]), variant != STANDARD_VARIANT, variant, key[0],
            key[1] != NO_DEFENCE, key[1], int(key[2]))


def _record(group: pd.DataFrame, sel: Selection, several_seeds: bool) -> dict[str, Any]:
    first = group.iloc[0]
    stats = {**model_metrics(group), **recall_stats(group, sel.budget)}
    if first["defence"] == NO_DEFENCE:  # the undefended model is the unit of inference time
        stats["latency_ratio"] = 1.0
    seeds = f" (seed {first['train_seed']})" if several_seeds and not pd.isna(first["train_seed"]) else ""
    variant = f" ({first['variant']})" if first["variant"] != STANDARD_VARIANT else ""
    eot = f" (attack averaged {int(first['eot_draws'])} answers, eot)" if int(first["eot_draws"]) > 1 else ""
    return {**stats, "model_key": first["model_key"], "defence": str(first["defence"]) + eot,
            "undefended": first["defence"] == NO_DEFENCE and not eot, "augment": first["augment"],
            "model_label": augment_label(first["augment"]) + variant + seeds, "variant": first["variant"],
            "eot_draws": int(first["eot_draws"]) if eot else 0, "model_queries": _median_model_queries(group, sel)}


def _median_model_queries(group: pd.DataFrame, sel: Selection) -> float:
    """Median calls of the model behind the defence over the images the attack fooled within budget."""
    spoof = group[group["is_spoof"]]
    if spoof.empty:
        return np.nan
    won = fooled_within(spoof, queries_at_budget(spoof, sel.budget)) & ~spoof["already_live"].to_numpy(bool)
    return float(np.median(spoof["model_queries"].to_numpy(float)[won])) if won.any() else np.nan


def _goal_columns(values: pd.DataFrame, display: pd.DataFrame, meets: list, compared: list[str]) -> None:
    """'Compared with' and 'Meets the goal' (True/False/None, or "reference" for the reference itself)."""
    for frame in (values, display):
        frame[COMPARED] = [c or MISSING for c in compared]
    values[MEETS] = meets
    display[MEETS] = [{True: "yes", False: "no", None: MISSING}.get(m, "reference") for m in meets]


def _mark_goal(records: list[dict[str, Any]]) -> None:
    """Each row against its reference (`goal.references`); the reference itself is marked."""
    for r, reference in zip(records, references(records), strict=True):
        if reference is None or reference is r:
            r["meets"], r["reference_label"] = ("reference" if reference is r else None), MISSING
            continue
        r["reference_label"] = f"{reference['model_label']}, {reference['defence']}"
        r["meets"] = meets_goal(r, reference)


def _spoofs(groups: list[pd.DataFrame]) -> int | None:
    sizes = {int(g["is_spoof"].sum()) for g in groups}
    return sizes.pop() if len(sizes) == 1 else None


def _caption(data: Results, database: str, sel: Selection, rows: pd.DataFrame, groups: list[pd.DataFrame],
             records: list[dict[str, Any]], with_model_queries: bool) -> str:
    sources = sorted({str(s) for s in rows["threshold_source"].dropna()} - {"unknown"}) or ["source unknown"]
    eot = [f"{r['model_label']}, {r['defence']} ({r['eot_draws']} draws)" for r in records if r["eot_draws"]]
    parts = [f"Data: {database_label(data, database)}"
             + (" (SYNTHETIC sample database)" if is_synthetic(data, database) else "") + ".",
             image_set_text(groups), f"Attack: {sel.describe()}, run against the whole defended pipeline as a "
             f"black box; success re-verified through the same pipeline from the saved PNG.",
             ("Attacked with expectation over transformation (scores averaged over noise draws): "
              + "; ".join(eot) + ".") if eot else "No row was attacked with expectation over transformation.",
             THRESHOLDS.format(source="; ".join(sources), images="") + " Clean metrics from each system's own "
             "evaluation (behind its defences).", f"Criterion: {criterion_text(rows)}.",
             INTERVAL_NOTE,
             f"{TITLES['median_queries']}: queries of the defended system; "
             + (f"{TITLES['model_queries']}: calls of the model behind it (a defence may call it several times "
                "per query)." if with_model_queries else "the model behind it was called once per query.")
             + f" {TITLES['latency_ratio']}: defended over undefended inference time per image, measured at "
             "evaluation.", _goal_text(sel, records)]
    return " ".join(p for p in parts if p)


def _goal_text(sel: Selection, records: list[dict[str, Any]]) -> str:
    met = [f"{r['model_label']}, {r['defence']}" for r in records if r["meets"] is True]
    judged = sum(r["meets"] in (True, False) for r in records)
    verdict = (f"Measured: {len(met)} of {judged} compared rows meet it ({'; '.join(met)})." if met
               else f"Measured: none of the {judged} compared rows meets it on these images.")
    return f"Goal: {goal_text(sel.pixels)}. '{MEETS}' says it for the row named in '{COMPARED}'. {verdict}"


def worst_case_table(data: Results, case: WorstCase) -> Table:
    """Each system's worst case over the attacks (`defence_worst_case.py`), each attack's drop beside it,
    and the goal judged on the worst case, with by how much each row misses it."""
    systems = case.systems
    records = [{**s.metrics, **{k: v for k, v in s.worst.items() if k.startswith("recall")},
                "median_queries": s.worst["median_queries"]} for s in systems]
    labels = {"Model": [s.model_label for s in systems], "Defence": [s.defence for s in systems]}
    spoofs = {int(s.worst["spoofs"]) for s in systems}
    values, display = metric_frames(labels, records, ["acc", "bpcer", "recall", "recall_after", "recall_drop",
                                                      "median_queries"], spoofs.pop() if len(spoofs) == 1 else None)
    renamed = {c: c.replace("Recall after", "Worst-case recall after").replace("Recall drop", "Worst-case drop")
               .replace("Median queries to success", "Median queries of the worst case")
               for c in [*values.columns, *display.columns]}
    values, display = values.rename(columns=renamed), display.rename(columns=renamed)
    for attack in case.attacks:
        drops = [s.members[attack]["recall_drop"] if attack in s.members else np.nan for s in systems]
        values[f"Drop under {attack} (points)"] = drops
        display[f"Drop under {attack} (points)"] = [MISSING if pd.isna(d) else f"{d:.2f}" for d in drops]
    broken = ["; ".join(f"{a} {s.broken_by[a]}" for a in case.attacks if a in s.broken_by) for s in systems]
    values["Broken first by"], display["Broken first by"] = broken, broken
    _goal_columns(values, display, [s.meets for s in systems], [s.reference_label for s in systems])
    values[MISSES] = display[MISSES] = [s.misses_by or MISSING for s in systems]
    heading = (f"{database_label(data, case.database)}: each defence's worst case over {len(case.attacks)} "
               f"attacks at {case.pixels} pixels and {case.queries:,} queries per image")
    return Table(f"defences-{slug(case.database)}-worst-case", heading, _worst_case_caption(data, case),
                 values, display, case.database)


def _worst_case_caption(data: Results, case: WorstCase) -> str:
    met = [f"{s.model_label}, {s.defence}" for s in case.systems if s.meets is True]
    judged = [s for s in case.systems if s.meets in (True, False)]
    closest = min(judged, key=lambda s: s.worst["recall_drop"], default=None)
    verdict = (f"Measured: {len(met)} of {len(judged)} compared rows meet it ({'; '.join(met)})." if met else
               f"Measured: none of the {len(judged)} compared rows meets it on these images"
               + (f"; the smallest worst-case drop is {closest.model_label}, {closest.defence} "
                  f"({closest.misses_by})." if closest is not None else "."))
    groups = [s.rows for s in case.systems]
    eot = any("(eot" in a for a in case.attacks)
    parts = [f"Data: {database_label(data, case.database)}"
             + (" (SYNTHETIC sample database)" if is_synthetic(data, case.database) else "") + ".",
             image_set_text(groups),
             f"Attacks, in the order the worst case takes them: {', '.join(case.attacks)}"
             + (" (eot K: the attack averaged K answers of a randomized pipeline per query)" if eot else "")
             + f"; each at {case.pixels} pixels, read at {case.queries:,} queries per image ("
             + "; ".join(s.describe() for s in case.selections) + "), run against the whole defended pipeline "
             "as a black box, every success re-verified through it from the saved PNG.",
             "Worst case: a spoof counts as fooled when any attack fooled it within the budget (the "
             "ensemble's answer, as `fasrobust robustness` runs it: each image stops at its first success); "
             "'Broken first by' counts the images each attack broke before the next in that order; the "
             "per-attack columns are each attack's own drop on the same images. A row lists only the attacks "
             "run on it.", f"Median queries of the worst case: what the ensemble run in that order spends on "
             f"the spoofs it breaks. Clean ACC and BPCER from each system's own evaluation behind its stack. "
             f"Criterion: {criterion_text(data.attacks[data.attacks['database'] == case.database])}.",
             INTERVAL_NOTE, f"Goal, on the worst case: {goal_text(case.pixels)}. {verdict}"]
    return " ".join(p for p in parts if p)
