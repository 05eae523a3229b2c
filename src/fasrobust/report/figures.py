"""The paper's figures from stored rows (matplotlib, PNG and PDF), for every attack: Fig. 3 recall drop
against the number of pixels, Fig. 4 recall drop against the attack's budget (read from the stored
queries: no extra attack), Fig. 5 best-score trajectories of up to 40 random spoof images per database
against queries spent, success against queries spent (one curve per attack and setting), and a histogram
of queries to success. Report stage: RunData -> report/figures/*.png|pdf -> index.html.

Figures are drawn on `matplotlib.figure.Figure` objects (no pyplot, no global backend state), and each
carries a caption in its own image saying which data, model, threshold and budget produced it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

from ..attacks import attack_class
from ..attacks.result import score_at
from ..experiments.attack_stats import spoof_rows, success_curve
from ..metrics import wilson_interval
from .columns import augment_label, augment_rank
from .data import RunData
from .summary import Selection, budget_curve, pixel_curve, rows_for, selections


def _threshold_text(rows: pd.DataFrame) -> str:
    values = sorted({float(t) for t in rows["threshold"]}) if len(rows) else [0.5]
    shown = ", ".join(f"{v:g}" for v in values)
    return f"threshold {shown} (called live iff P(live) >= {shown})"


@dataclass(frozen=True)
class Figure:
    key: str
    title: str
    caption: str
    png: Path
    pdf: Path


def build_figures(data: RunData, directory: Path) -> tuple[list[Figure], list[str]]:
    """Draw every figure the stored rows allow; returns the figures and, for the others, why not."""
    directory.mkdir(parents=True, exist_ok=True)
    chosen = {db: sels for db in sorted(data.attacks["database"].unique()) if len(data.attacks)
              if (sels := selections(data, data.attacks[data.attacks["database"] == db], db))}
    figures, skipped = [], []
    makers: list[tuple[str, Callable]] = [("pixels", _pixels), ("iterations", _iterations),
                                          ("success-vs-queries", _success_vs_queries),
                                          ("trajectories", _trajectories), ("queries", _queries)]
    for key, maker in makers:
        made = maker(data, chosen) if chosen else "no attack rows yet"
        if isinstance(made, str):
            skipped.append(f"{key}: {made}")
            continue
        fig, title, caption = made
        figures.append(_save(fig, title, caption, directory, key, data.synthetic))
    return figures, skipped


def _save(fig: MplFigure, title: str, caption: str, directory: Path, key: str, synthetic: bool) -> Figure:
    shown = ("SYNTHETIC DATA. " if synthetic else "") + title
    fig.suptitle(shown, fontsize=11, fontweight="bold", color="#a00000" if synthetic else "black")
    width, height = fig.get_size_inches()
    wrapped = "\n".join(textwrap.wrap(caption, int(width * 19)))  # ~19 characters per inch at 6.5 pt
    fig.text(0.01, 0.01, wrapped, fontsize=6.5, va="bottom", ha="left", color="#333333")
    caption_in = 0.11 * (wrapped.count("\n") + 1) + 0.62  # caption lines + the axis label above them
    fig.subplots_adjust(bottom=caption_in / height, top=1 - 0.75 / height, hspace=0.55, wspace=0.25)
    png, pdf = directory / f"{key}.png", directory / f"{key}.pdf"
    fig.savefig(png, dpi=110)
    fig.savefig(pdf)
    return Figure(key, shown, caption, png, pdf)


def _grid(n: int) -> tuple[MplFigure, list]:
    cols = min(n, 2)
    rows = -(-n // cols)
    fig = MplFigure(figsize=(max(7.5, 5.2 * cols), 3.6 * rows + 1.6))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, list(axes[:n])


def _models_text(rows: pd.DataFrame) -> str:
    models = sorted(set(rows["model"]))
    steps = sorted(int(s) for s in rows["steps"].dropna().unique())
    return f"Model: {', '.join(models)}" + (f", {', '.join(f'{s:,}' for s in steps)} training steps" if steps else "")


def _data_text(data: RunData, chosen: dict[str, list[Selection]]) -> str:
    synthetic = " (SYNTHETIC sample data)" if data.synthetic else ""
    return f"Data: {', '.join(chosen)}{synthetic}, attacked spoof test images."


def _all(chosen: dict[str, list[Selection]]) -> list[Selection]:
    return [s for sels in chosen.values() for s in sels]


# ----- Fig. 3 -------------------------------------------------------------------------------------------------
def _pixels(data: RunData, chosen: dict[str, list[Selection]]):
    fig = MplFigure(figsize=(7.5, 5.4))
    ax = fig.subplots()
    used = []
    for db, sels in chosen.items():
        for sel in sels:
            rows = rows_for(data.attacks, sel, pixels=False)  # the setting key leaves the pixel count out
            for augment, group in sorted(rows.groupby("augment"), key=lambda kv: augment_rank(kv[0])):
                if group["pixels"].nunique() < 2:
                    continue
                curve = pixel_curve(group, sel.budget)
                errors = _error_bars(curve)
                ax.errorbar(curve["pixels"], curve["recall_drop"], yerr=errors, marker="o", capsize=3,
                            label=f"{db}, {sel.attack}, {augment_label(augment)}")
                used.append(group)
    if not used:
        return "needs attacks on one model with at least two pixel counts"
    ax.set(xlabel="pixels changed per image", ylabel="recall drop (%)", ylim=(-2, 102))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    rows = pd.concat(used)
    caption = (f"{_data_text(data, chosen)} {_models_text(rows)}. Attacks: "
               f"{'; '.join(s.describe() for s in _all(chosen))}, pixel counts "
               f"{', '.join(str(p) for p in sorted(rows['pixels'].unique()))}. Recall drop = recall before - "
               f"recall after at {_threshold_text(rows)}; error bars: the Wilson 95 % interval of recall after, "
               f"{int(spoof_rows(rows).groupby(['setting_key', 'pixels', 'model_key']).size().min())} or more "
               "spoofs per point.")
    return fig, "Fig. 3: recall drop against the number of pixels changed", caption


def _error_bars(curve: pd.DataFrame) -> np.ndarray:
    """Recall drop's error bars from recall after's Wilson interval (recall before is fixed per image set)."""
    lo = np.array([c[0] for c in curve["recall_after_ci"]])
    hi = np.array([c[1] for c in curve["recall_after_ci"]])
    after = curve["recall_after"].to_numpy(dtype=float)
    return np.vstack([np.clip(hi - after, 0, None), np.clip(after - lo, 0, None)])


# ----- Fig. 4 -------------------------------------------------------------------------------------------------
def _iterations(data: RunData, chosen: dict[str, list[Selection]]):
    panels = [(db, sel) for db, sels in chosen.items() for sel in sels if sel.budget_field]
    fig, axes = _grid(len(panels))
    used = []
    for ax, (db, sel) in zip(axes, panels, strict=True):
        rows = rows_for(data.attacks, sel)
        wanted = [int(v) for v in data.grid_attack_values(sel.attack, sel.budget_field)]
        for augment, group in sorted(rows.groupby("augment"), key=lambda kv: augment_rank(kv[0])):
            ceiling = int(group["budget"].min())
            points = np.unique(np.linspace(smallest_budget(sel.attack), ceiling, 60).astype(int))
            curve = budget_curve(group, points)
            line = ax.plot(curve["budget"], curve["recall_drop"], label=augment_label(augment), lw=1.4)
            at = budget_curve(group, wanted)
            ax.plot(at["budget"], at["recall_drop"], "o", color=line[0].get_color(), ms=4)
            used.append(group)
        ax.set(title=f"{db}: {sel.attack}, {sel.pixels} pixels", xlabel=f"budget ({sel.budget_field})",
               ylabel="recall drop (%)", ylim=(-2, 102))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    rows = pd.concat(used)
    ran = sorted(int(v) for v in rows["budget"].unique())
    caption = (f"{_data_text(data, chosen)} {_models_text(rows)}. Attacks ran once at budget "
               f"{_budgets(ran)}; the recall drop at every smaller budget is read from their stored query counts "
               f"(an image is fooled within budget b iff its attack succeeded within the queries b allows), so "
               f"this curve cost no extra attack. Dots: the budgets the spec asked for. At the "
               f"{_threshold_text(rows)}.")
    return fig, "Fig. 4: recall drop against the attack's budget", caption


def smallest_budget(attack: str) -> int:
    return int(attack_class(attack).Settings.smallest_budget)


# ----- success against queries ----------------------------------------------------------------------------------
def _success_vs_queries(data: RunData, chosen: dict[str, list[Selection]]):
    fig, axes = _grid(len(chosen))
    used = []
    for ax, (db, sels) in zip(axes, chosen.items(), strict=True):
        for sel in sels:
            rows = spoof_rows(rows_for(data.attacks, sel, steps=False))
            if rows.empty:
                continue
            top = int(rows["query_budget"].max())
            grid = np.unique(np.geomspace(1, top, 80).astype(int))
            fraction = success_curve(rows, grid)
            n = len(rows)
            band = np.array([wilson_interval(int(round(f * n)), n) for f in fraction])
            line = ax.step(grid, 100 * fraction, where="post", label=f"{sel.attack}: {sel.pixels} px (n={n})")
            ax.fill_between(grid, 100 * band[:, 0], 100 * band[:, 1], step="post", alpha=0.15,
                            color=line[0].get_color())
            used.append(rows)
        ax.set(title=db, xscale="log", xlabel="queries spent per image (clean query included)",
               ylabel="spoofs called live (%)", ylim=(-2, 102))
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="upper left")
    if not used:
        return "no spoof rows"
    rows = pd.concat(used)
    caption = (f"{_data_text(data, chosen)} {_models_text(rows)}, every model of each attack's main setting "
               f"pooled. Attacks: {'; '.join(s.describe() for s in _all(chosen))}. A curve at q: the share of "
               f"attacked spoofs called live after at most q queries (already-live spoofs from the first query), "
               f"read from each image's stored query count; bands: Wilson 95 % intervals. At the "
               f"{_threshold_text(rows)}.")
    return fig, "Success against queries spent", caption


# ----- Fig. 5 -------------------------------------------------------------------------------------------------
def _trajectories(data: RunData, chosen: dict[str, list[Selection]]):
    outputs = data.spec.get("outputs") or {}
    count, seed = int(outputs.get("trajectory_images") or 40), int(outputs.get("trajectory_seed") or 0)
    panels = [(db, sel) for db, sels in chosen.items() for sel in sels]
    fig, axes = _grid(len(panels))
    used = []
    for ax, (db, sel) in zip(axes, panels, strict=True):
        rows = spoof_rows(rows_for(data.attacks, sel))
        augment = min(rows["augment"].unique(), key=lambda a: (a != "all", augment_rank(a)))
        rows = rows[rows["augment"] == augment]
        picked = rows.sample(n=min(count, len(rows)), random_state=seed) if len(rows) else rows
        top = int(picked["query_budget"].max()) if len(picked) else 1
        grid = np.unique(np.linspace(1, top, 200).astype(int))
        curves = np.array([[score_at(t, q) for q in grid] for t in picked["trajectory"]]).reshape(-1, len(grid))
        for curve in curves:
            ax.plot(grid, curve, color="#7a7a7a", lw=0.7, alpha=0.6, drawstyle="steps-post")
        if len(curves):
            ax.plot(grid, np.nanmean(curves, axis=0), color="#d62728", lw=2.2, label="mean")
        success = 1.0 - float(picked["threshold"].iloc[0]) if len(picked) else 0.5
        ax.axhline(success, color="black", ls="--", lw=1, label=f"{success:g}: called live")
        ax.set(title=f"{db}: {sel.attack}, {len(curves)} images, {augment_label(augment)}",
               xlabel="queries spent", ylabel="best spoof confidence", ylim=(0, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
        used.append(picked)
    rows = pd.concat(used)
    caption = (f"{_data_text(data, chosen)} Up to {count} random spoof images per database and attack (seed "
               f"{seed}), {_models_text(rows)}; attacks {'; '.join(s.describe() for s in _all(chosen))}. Grey: "
               f"best score so far (spoof confidence 1 - P(live)) against queries spent; red: their mean. A "
               f"trajectory stops when the face is called live ({_threshold_text(rows)}) and is drawn flat after "
               f"that.")
    return fig, "Fig. 5: best-score trajectories of random spoof images", caption


# ----- queries ------------------------------------------------------------------------------------------------
def _queries(data: RunData, chosen: dict[str, list[Selection]]):
    fig = MplFigure(figsize=(7.5, 5.2))
    ax = fig.subplots()
    used = []
    for db, sels in chosen.items():
        for sel in sels:
            rows = rows_for(data.attacks, sel, steps=False)
            wins = rows[rows["is_spoof"] & rows["success"] & ~rows["already_live"]]
            if len(wins):
                ax.hist(wins["queries"], bins=30, histtype="step", lw=1.6,
                        label=f"{db}, {sel.attack} (n={len(wins)}, median {np.median(wins['queries']):,.0f})")
                used.append(wins)
    if not used:
        return "no successful attack that needed queries"
    ax.set(xlabel="queries to success (images scored by the model)", ylabel="attacked images")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    rows = pd.concat(used)
    caption = (f"{_data_text(data, chosen)} Successful attacks only (already-live images excluded), "
               f"{_models_text(rows)}, every augmentation setting; attacks "
               f"{'; '.join(s.describe() for s in _all(chosen))}; {_threshold_text(rows)}.")
    return fig, "Queries to success", caption


def _budgets(values: list[int]) -> str:
    return ", ".join(str(v) for v in values)
