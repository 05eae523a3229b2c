"""The paper's figures from stored rows (matplotlib, PNG and PDF): Fig. 3 recall drop against the number of
pixels, Fig. 4 recall drop against the iteration budget (read from the stored best-fitness trajectories:
no extra attack), Fig. 5 best-fitness trajectories of up to 40 random spoof images per database, and a
histogram of queries to success. Report stage: RunData -> report/figures/*.png|pdf -> index.html.

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

from .columns import augment_label, augment_rank
from .data import SUCCESS_FITNESS, RunData
from .summary import Selection, iteration_curve, pixel_curve, rows_for, select

THRESHOLD_TEXT = "fixed threshold 0.5 (called live iff P(live) >= 0.5)"


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
    selections = {db: s for db in sorted(data.attacks["database"].unique()) if len(data.attacks)
                  if (s := select(data, data.attacks[data.attacks["database"] == db], db)) is not None}
    figures, skipped = [], []
    makers: list[tuple[str, Callable]] = [("pixels", _pixels), ("iterations", _iterations),
                                          ("trajectories", _trajectories), ("queries", _queries)]
    for key, maker in makers:
        made = maker(data, selections) if selections else "no attack rows yet"
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


def _data_text(data: RunData, selections: dict[str, Selection]) -> str:
    synthetic = " (SYNTHETIC sample data)" if data.synthetic else ""
    return f"Data: {', '.join(selections)}{synthetic}, attacked spoof test images."


# ----- Fig. 3 -------------------------------------------------------------------------------------------------
def _pixels(data: RunData, selections: dict[str, Selection]):
    fig = MplFigure(figsize=(7.5, 5.4))
    ax = fig.subplots()
    used = []
    for db, sel in selections.items():
        rows = rows_for(data.attacks, sel, pixels=False)
        for augment, group in sorted(rows.groupby("augment"), key=lambda kv: augment_rank(kv[0])):
            if group["pixels"].nunique() < 2:
                continue
            curve = pixel_curve(group, sel.budget)
            ax.plot(curve["pixels"], curve["recall_drop"], marker="o", label=f"{db}, {augment_label(augment)}")
            used.append(group)
    if not used:
        return "needs attacks on one model with at least two pixel counts"
    ax.set(xlabel="pixels changed per image", ylabel="recall drop (%)", ylim=(-2, 102))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    rows = pd.concat(used)
    budgets = sorted({s.budget for s in selections.values()})
    caption = (f"{_data_text(data, selections)} {_models_text(rows)}. Attack: {_budgets(budgets)} iterations "
               f"per image, pixel counts {', '.join(str(p) for p in sorted(rows['pixels'].unique()))}. "
               f"Recall drop = recall before - recall after at {THRESHOLD_TEXT}.")
    return fig, "Fig. 3: recall drop against the number of pixels changed", caption


# ----- Fig. 4 -------------------------------------------------------------------------------------------------
def _iterations(data: RunData, selections: dict[str, Selection]):
    fig, axes = _grid(len(selections))
    used = []
    marks = sorted({int(v) for v in data.grid_values("iterations")} | _planned_budgets(data))
    for ax, (db, sel) in zip(axes, selections.items(), strict=True):
        rows = rows_for(data.attacks, sel)
        for augment, group in sorted(rows.groupby("augment"), key=lambda kv: augment_rank(kv[0])):
            ceiling = int(group["iterations"].min())
            curve = iteration_curve(group, range(0, ceiling + 1))
            line = ax.plot(curve["iterations"], curve["recall_drop"], label=augment_label(augment), lw=1.4)
            at = curve[curve["iterations"].isin(marks)]
            ax.plot(at["iterations"], at["recall_drop"], "o", color=line[0].get_color(), ms=4)
            used.append(group)
        ax.set(title=f"{db}: {sel.pixels} pixels", xlabel="iteration budget (generations)",
               ylabel="recall drop (%)", ylim=(-2, 102))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    rows = pd.concat(used)
    ran = sorted(int(v) for v in rows["iterations"].unique())
    caption = (f"{_data_text(data, selections)} {_models_text(rows)}. Attacks ran once for {_budgets(ran)} "
               f"iterations; the recall drop at every smaller budget is read from their stored best-fitness "
               f"trajectories (success within k generations iff already live or best spoof confidence <= 0.5 "
               f"after k), so this curve cost no extra attack. Dots: the budgets the spec asked for. "
               f"At the {THRESHOLD_TEXT}.")
    return fig, "Fig. 4: recall drop against the attack's iteration budget", caption


def _planned_budgets(data: RunData) -> set[int]:
    return {int(b) for g in data.plan.get("attack_groups") or [] for b in g.get("budgets") or []}


# ----- Fig. 5 -------------------------------------------------------------------------------------------------
def _trajectories(data: RunData, selections: dict[str, Selection]):
    outputs = data.spec.get("outputs") or {}
    count, seed = int(outputs.get("trajectory_images") or 40), int(outputs.get("trajectory_seed") or 0)
    fig, axes = _grid(len(selections))
    used = []
    for ax, (db, sel) in zip(axes, selections.items(), strict=True):
        rows = rows_for(data.attacks, sel)
        rows = rows[rows["is_spoof"]]
        augment = min(rows["augment"].unique(), key=lambda a: (a != "all", augment_rank(a)))
        rows = rows[rows["augment"] == augment]
        picked = rows.sample(n=min(count, len(rows)), random_state=seed) if len(rows) else rows
        length = sel.ran + 1
        curves = np.array([_padded(h, length) for h in picked["fitness_history"]]).reshape(-1, length)
        for curve in curves:
            ax.plot(curve, color="#7a7a7a", lw=0.7, alpha=0.6)
        if len(curves):
            ax.plot(curves.mean(axis=0), color="#d62728", lw=2.2, label="mean")
        ax.axhline(SUCCESS_FITNESS, color="black", ls="--", lw=1, label="0.5: called live")
        ax.set(title=f"{db}: {len(curves)} images, {augment_label(augment)}", xlabel="generation",
               ylabel="best spoof confidence", ylim=(0, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
        used.append(picked)
    rows = pd.concat(used)
    caption = (f"{_data_text(data, selections)} Up to {count} random spoof images per database (seed {seed}), "
               f"{_models_text(rows)}; attack {', '.join(s.describe() for s in selections.values())}. Grey: "
               f"best fitness (spoof confidence 1 - P(live)) per generation; red: their mean. A trajectory "
               f"stops when it reaches 0.5 ({THRESHOLD_TEXT}) and is drawn flat after that.")
    return fig, "Fig. 5: best-fitness trajectories of random spoof images", caption


def _padded(history, length: int) -> np.ndarray:
    values = np.asarray(history, dtype=np.float64).ravel()[:length]
    if values.size == 0:
        return np.full(length, np.nan)
    return np.concatenate([values, np.full(length - values.size, values[-1])])


# ----- queries ------------------------------------------------------------------------------------------------
def _queries(data: RunData, selections: dict[str, Selection]):
    fig = MplFigure(figsize=(7.5, 5.2))
    ax = fig.subplots()
    used = []
    for db, sel in selections.items():
        rows = rows_for(data.attacks, sel, steps=False)
        wins = rows[rows["is_spoof"] & rows["success"] & ~rows["already_live"]]
        if len(wins):
            ax.hist(wins["queries"], bins=30, histtype="step", lw=1.6,
                    label=f"{db} (n={len(wins)}, median {np.median(wins['queries']):,.0f})")
            used.append(wins)
    if not used:
        return "no successful attack that needed queries"
    ax.set(xlabel="queries to success (images scored by the model)", ylabel="attacked images")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    rows = pd.concat(used)
    caption = (f"{_data_text(data, selections)} Successful attacks only (already-live images excluded), "
               f"{_models_text(rows)}, every augmentation setting; attack "
               f"{', '.join(s.describe() for s in selections.values())}; {THRESHOLD_TEXT}.")
    return fig, "Queries to success", caption


def _budgets(values: list[int]) -> str:
    return ", ".join(str(v) for v in values)
