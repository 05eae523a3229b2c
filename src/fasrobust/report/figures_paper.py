"""The paper's figures and two of ours, for every attack, from undefended models attacked on their own
database (figure_scope.paper_scope): Fig. 3 recall drop against the number of pixels, Fig. 4 recall drop
against the attack's budget (read from the stored queries: no extra attack), Fig. 5 best-score
trajectories, success against queries spent, and a histogram of queries to success.

Figs. 3 and 4 draw the models and settings of the study that varies their axis (plan.json `studies`:
one curve when the study asked for one augmentation); without a plan, every model the rows have. Every
figure has error bars or bands, and its caption is written from the rows it draws.
Report stage: Results -> `Drawn` figures -> figures.py saves them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

from ..attacks import attack_class
from ..attacks.result import score_at
from ..experiments.attack_stats import spoof_rows, success_curve
from ..metrics import wilson_interval
from .columns import augment_label, augment_rank
from .figure_parts import (
    Drawn,
    bootstrap_mean_band,
    data_text,
    drop_interval,
    drop_method,
    error_bars,
    grid,
    images_text,
    methods_text,
    model_label,
    models_text,
    ran_text,
    threshold_text,
    varied_axes,
)
from .figure_scope import StudyScope, scope_rows, study_scope
from .results import Results
from .summary import Selection, budget_curve, pixel_curve, rows_for

Chosen = dict[str, list[Selection]]


def _all(chosen: Chosen) -> list[Selection]:
    return [s for sels in chosen.values() for s in sels]


def _by_model(rows: pd.DataFrame, order: tuple[str, ...] = ()) -> list[pd.DataFrame]:
    """The rows of each model, in the study's order, else the paper's augmentation order."""
    groups = [g for _, g in rows.groupby("model_key", sort=False)]
    rank = {m: i for i, m in enumerate(order)}
    return sorted(groups, key=lambda g: (rank.get(g["model_key"].iloc[0], len(rank)),
                                         augment_rank(g["augment"].iloc[0]), str(g["steps"].iloc[0])))


def _size_field(attack: str) -> str:
    return str(attack_class(attack).Settings.size_field)


def _study_note(scopes: list[StudyScope]) -> str:
    named = sorted({f"'{s.name}'" for s in scopes})
    return (f" Curves: the models of study {', '.join(named)}." if named
            else " Curves: every model stored (no plan.json study varies this axis).")


# ----- Fig. 3 -------------------------------------------------------------------------------------------------
def pixels_figure(data: Results, chosen: Chosen) -> Drawn | str:
    fig = MplFigure(figsize=(7.5, 5.4))
    ax = fig.subplots()
    used, counts, scopes, budgets, methods = [], [], [], [], set()
    for db, sels in chosen.items():
        for sel in sels:
            scope = study_scope(data, db, sel.attack, _size_field(sel.attack), "pixels")
            rows = scope_rows(data.attacks, scope, db) if scope else data.attacks.iloc[:0]
            if rows.empty:  # a plan whose points name no stored row: fall back to what is stored
                scope, rows = None, rows_for(data.attacks, sel, pixels=False)
            budget = max(scope.budgets) if scope and scope.budgets else sel.budget
            groups = [g for g in _by_model(rows, scope.models if scope else ()) if g["pixels"].nunique() > 1]
            varied = varied_axes(groups)
            for group in groups:
                at = min(budget, int(group["budget"].min()))
                curve = pixel_curve(group, at if sel.budget_field else None)
                records = curve.to_dict("records")
                yerr = error_bars(curve["recall_drop"], [drop_interval(r) for r in records])
                methods |= {drop_method(r) for r in records}
                n = int(curve["spoofs"].min())
                ax.errorbar(curve["pixels"], curve["recall_drop"], yerr=yerr, marker="o", capsize=3,
                            label=f"{db}, {sel.attack}, {model_label(group, varied)} (n={n})")
                used.append(group)
                counts.append(n)
                budgets.append(f"{at} {sel.budget_field}" if sel.budget_field else "its own budget")
            scopes += [scope] if scope else []
    if not used:
        return "needs attacks on one model with at least two pixel counts"
    ax.set(xlabel="pixels changed per image", ylabel="recall drop (%)", ylim=(-2, 102))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    rows = pd.concat(used)
    caption = (f"{data_text(data, list(chosen))} {models_text(rows)}.{_study_note(scopes)} Pixel counts "
               f"{', '.join(str(p) for p in sorted(rows['pixels'].unique()))}, each point taken at "
               f"{', '.join(sorted(set(budgets)))}; {ran_text(rows)}. Recall drop = recall before - recall after "
               f"at {threshold_text(rows)}; error bars: 95 % intervals ({methods_text(methods)}), "
               f"{images_text(counts)}.")
    return Drawn("pixels", fig, "Fig. 3: recall drop against the number of pixels changed", caption)


# ----- Fig. 4 -------------------------------------------------------------------------------------------------
def iterations_figure(data: Results, chosen: Chosen) -> Drawn | str:
    panels = []
    for db, sels in chosen.items():
        for sel in sels:
            if not sel.budget_field:
                continue
            scope = study_scope(data, db, sel.attack, sel.budget_field, "iterations")
            rows = scope_rows(data.attacks, scope, db) if scope else data.attacks.iloc[:0]
            if rows.empty:
                scope, rows = None, rows_for(data.attacks, sel)
            wanted = (list(scope.values) if scope
                      else [int(v) for v in data.grid_attack_values(sel.attack, sel.budget_field)])
            for pixels, group in rows.groupby("pixels"):
                panels.append((db, sel, scope, int(pixels), group, wanted))
    if not panels:
        return "no attack with a budget setting"
    fig, axes = grid(len(panels))
    used, counts, methods = [], [], set()
    for ax, (db, sel, scope, pixels, rows, wanted) in zip(axes, panels, strict=True):
        groups = _by_model(rows, scope.models if scope else ())
        varied = varied_axes(groups)
        for group in groups:
            ceiling = int(group["budget"].min())
            points = np.unique(np.linspace(smallest_budget(sel.attack), ceiling, 60).astype(int))
            curve = budget_curve(group, points)
            n = int(curve["spoofs"].max())
            records = curve.to_dict("records")
            band = np.array([drop_interval(r) for r in records])
            methods |= {drop_method(r) for r in records}
            line = ax.plot(curve["budget"], curve["recall_drop"], lw=1.4, label=f"{model_label(group, varied)} (n={n})")
            ax.fill_between(curve["budget"], band[:, 0], band[:, 1], alpha=0.15, color=line[0].get_color())
            at = budget_curve(group, wanted)
            if len(at):
                ax.plot(at["budget"], at["recall_drop"], "o", color=line[0].get_color(), ms=4, label="_dots")
            used.append(group)
            counts.append(n)
        study = f", study '{scope.name}'" if scope else ""
        ax.set(title=f"{db}: {sel.attack}, {pixels} pixels{study}", xlabel=f"budget ({sel.budget_field})",
               ylabel="recall drop (%)", ylim=(-2, 102))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    rows = pd.concat(used)
    asked = sorted({v for p in panels for v in p[5]})
    caption = (f"{data_text(data, list(chosen))} {models_text(rows)}.{_study_note([p[2] for p in panels if p[2]])} "
               f"Attacks: {ran_text(rows)}; the recall drop at every smaller budget is read from their stored "
               f"query counts (an image is fooled within budget b iff its attack succeeded within the queries b "
               f"allows), so these curves cost no extra attack. Dots: the budgets the study asked for "
               f"({', '.join(str(v) for v in asked) or 'none'}). Bands: 95 % intervals ({methods_text(methods)}), "
               f"{images_text(counts)}. At the {threshold_text(rows)}.")
    return Drawn("iterations", fig, "Fig. 4: recall drop against the attack's budget", caption)


def smallest_budget(attack: str) -> int:
    return int(attack_class(attack).Settings.smallest_budget)


# ----- success against queries ----------------------------------------------------------------------------------
def success_figure(data: Results, chosen: Chosen) -> Drawn | str:
    fig, axes = grid(len(chosen))
    used, counts = [], []
    for ax, (db, sels) in zip(axes, chosen.items(), strict=True):
        for sel in sels:
            rows = spoof_rows(rows_for(data.attacks, sel, steps=False))
            if rows.empty:
                continue
            top = int(rows["query_budget"].max())
            queries = np.unique(np.geomspace(1, top, 80).astype(int))
            fraction = success_curve(rows, queries)
            n = len(rows)
            band = np.array([wilson_interval(int(round(f * n)), n) for f in fraction])
            line = ax.step(queries, 100 * fraction, where="post", label=f"{sel.attack}: {sel.pixels} px (n={n})")
            ax.fill_between(queries, 100 * band[:, 0], 100 * band[:, 1], step="post", alpha=0.15,
                            color=line[0].get_color())
            used.append(rows)
            counts.append(n)
        ax.set(title=db, xscale="log", xlabel="queries spent per image (clean query included)",
               ylabel="spoofs called live (%)", ylim=(-2, 102))
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="upper left")
    if not used:
        return "no spoof rows"
    rows = pd.concat(used)
    caption = (f"{data_text(data, list(chosen))} {models_text(rows)}, every model of each attack's main setting "
               f"pooled; {ran_text(rows)}. A curve at q: the share of attacked spoofs called live after at most q "
               f"queries (already-live spoofs from the first query), read from each image's stored query count; "
               f"bands: Wilson 95 % intervals, {images_text(counts)}. At the {threshold_text(rows)}.")
    return Drawn("success-vs-queries", fig, "Success against queries spent", caption)


# ----- Fig. 5 -------------------------------------------------------------------------------------------------
def trajectories_figure(data: Results, chosen: Chosen) -> Drawn | str:
    outputs = data.spec.outputs
    count, seed = int(outputs.get("trajectory_images") or 40), int(outputs.get("trajectory_seed") or 0)
    panels = [(db, sel) for db, sels in chosen.items() for sel in sels]
    fig, axes = grid(len(panels))
    used = []
    for ax, (db, sel) in zip(axes, panels, strict=True):
        rows = spoof_rows(rows_for(data.attacks, sel))
        augment = min(rows["augment"].unique(), key=lambda a: (a != "all", augment_rank(a)))
        rows = rows[rows["augment"] == augment]
        picked = rows.sample(n=min(count, len(rows)), random_state=seed) if len(rows) else rows
        top = int(picked["query_budget"].max()) if len(picked) else 1
        queries = np.unique(np.linspace(1, top, 200).astype(int))
        curves = np.array([[score_at(t, q) for q in queries] for t in picked["trajectory"]]).reshape(-1, len(queries))
        for curve in curves:
            ax.plot(queries, curve, color="#7a7a7a", lw=0.7, alpha=0.6, drawstyle="steps-post", label="_image")
        if len(curves):
            lo, hi = bootstrap_mean_band(curves, seed)
            ax.fill_between(queries, lo, hi, color="#d62728", alpha=0.2, step="post", label="mean, 95 % bootstrap")
            ax.plot(queries, np.nanmean(curves, axis=0), color="#d62728", lw=2.2, label="mean",
                    drawstyle="steps-post")
        success = 1.0 - float(picked["threshold"].iloc[0]) if len(picked) else 0.5
        ax.axhline(success, color="black", ls="--", lw=1, label=f"{success:g}: called live")
        ax.set(title=f"{db}: {sel.attack}, {len(curves)} images, {augment_label(augment)}",
               xlabel="queries spent", ylabel="best spoof confidence", ylim=(0, 1.02))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
        used.append(picked)
    rows = pd.concat(used)
    caption = (f"{data_text(data, list(chosen))} Up to {count} random spoof images per database and attack "
               f"(seed {seed}; {len(rows)} drawn), {models_text(rows)}; {ran_text(rows)}, so the curves run to "
               f"{int(rows['query_budget'].max()) if len(rows) else 0:,} queries. Grey: best score so far "
               f"(spoof confidence 1 - P(live)) against queries spent; red: their mean with its 95 % bootstrap "
               f"band over images. A trajectory stops when the face is called live ({threshold_text(rows)}) and "
               f"is drawn flat after that.")
    return Drawn("trajectories", fig, "Fig. 5: best-score trajectories of random spoof images", caption)


# ----- queries ------------------------------------------------------------------------------------------------
def queries_figure(data: Results, chosen: Chosen) -> Drawn | str:
    fig = MplFigure(figsize=(7.5, 5.2))
    ax = fig.subplots()
    used = []
    for db, sels in chosen.items():
        for sel in sels:
            rows = rows_for(data.attacks, sel, steps=False)
            wins = rows[rows["is_spoof"] & rows["success"] & ~rows["already_live"]]
            if not len(wins):
                continue
            counts, edges, patches = ax.hist(
                wins["queries"], bins=min(30, max(1, wins["queries"].nunique())), histtype="step", lw=1.6,
                label=f"{db}, {sel.attack} (n={len(wins)}, median {np.median(wins['queries']):,.0f})")
            n, filled = len(wins), counts > 0  # empty bins get no bar: it would only repeat the bound of 0
            intervals = [tuple(n * v for v in wilson_interval(int(c), n)) for c in counts[filled]]
            centres = ((edges[:-1] + edges[1:]) / 2)[filled]
            ax.errorbar(centres, counts[filled], yerr=error_bars(counts[filled], intervals), fmt="none",
                        capsize=2, lw=0.8, color=patches[0].get_edgecolor())
            used.append(wins)
    if not used:
        return "no successful attack that needed queries"
    ax.set(xlabel="queries to success (images scored by the model)", ylabel="attacked images")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    rows = pd.concat(used)
    caption = (f"{data_text(data, list(chosen))} Successful attacks only (already-live images excluded), "
               f"{models_text(rows)}, every augmentation setting; {ran_text(rows)}. Error bars: Wilson 95 % "
               f"intervals of each bin's count. At the {threshold_text(rows)}.")
    return Drawn("queries", fig, "Queries to success", caption)
