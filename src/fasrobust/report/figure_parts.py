"""Pieces every report figure shares: a figure's drawing before it is saved, the panel grid, interval
arithmetic for error bars and bands, and caption phrases generated from the rows a figure draws (models,
the budgets the attacks actually ran with, images per curve, threshold), never from constants.
Report stage: figures_paper.py and figures_defences.py build on these; figures.py saves what they draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure as MplFigure

from .columns import augment_label, criterion_text
from .results import Results

#: Resamples behind the bootstrap bands (fixed seed: the same store draws the same band).
BOOTSTRAP_RESAMPLES = 1000


@dataclass(frozen=True)
class Drawn:
    """A figure drawn and not yet saved: tests and callers can inspect its axes."""

    key: str
    figure: MplFigure
    title: str
    caption: str


def grid(n: int) -> tuple[MplFigure, list]:
    cols = min(n, 2)
    rows = -(-n // cols)
    fig = MplFigure(figsize=(max(7.5, 5.2 * cols), 3.6 * rows + 1.6))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, list(axes[:n])


# ----- intervals ------------------------------------------------------------------------------------------------
def drop_interval(stats: dict[str, Any]) -> tuple[float, float]:
    """The recall drop's 95 % interval (points): the store's bootstrap interval where it gives one, else
    recall after's Wilson interval shifted by recall before (both taken on the same images)."""
    given = stats.get("recall_drop_ci")
    if given is not None and not any(pd.isna(v) for v in given):
        return float(given[0]), float(given[1])
    lo, hi = stats["recall_after_ci"]
    return float(stats["recall"] - hi), float(stats["recall"] - lo)


def drop_method(stats: dict[str, Any]) -> str:
    """How `drop_interval` got its interval, for the caption."""
    given = stats.get("recall_drop_ci")
    if given is not None and not any(pd.isna(v) for v in given):
        return "paired bootstrap over source videos"
    return "Wilson for recall after, shifted by recall before"


def methods_text(methods: set[str]) -> str:
    return " / ".join(sorted(methods)) or "none"


def error_bars(values: Sequence[float], intervals: Sequence[tuple[float, float]]) -> np.ndarray:
    """matplotlib's (2, n) yerr/xerr from values and their (lo, hi) intervals."""
    values = np.asarray(values, dtype=float)
    lo = np.array([i[0] for i in intervals], dtype=float)
    hi = np.array([i[1] for i in intervals], dtype=float)
    return np.vstack([np.clip(values - lo, 0, None), np.clip(hi - values, 0, None)])


def bootstrap_mean_band(curves: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """95 % percentile bootstrap band of the mean curve, resampling whole curves (images)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(curves), size=(BOOTSTRAP_RESAMPLES, len(curves)))
    means = np.nanmean(curves[picks], axis=1)
    return np.nanpercentile(means, 2.5, axis=0), np.nanpercentile(means, 97.5, axis=0)


# ----- caption phrases ------------------------------------------------------------------------------------------
def threshold_text(rows: pd.DataFrame) -> str:
    return f"criterion stored with the rows ({criterion_text(rows)})"


def ran_text(rows: pd.DataFrame) -> str:
    """The budgets the drawn attacks ran with, read from the rows: 'pixel ran with 24 iterations (...)'."""
    parts = []
    for (attack, field), group in rows.groupby(["attack", "budget_field"], sort=True):
        queries = ", ".join(f"{int(q):,}" for q in sorted(group["query_budget"].unique()))
        budgets = ", ".join(str(int(b)) for b in sorted(group["budget"].unique()))
        ran = f"{budgets} {field} " if field else ""
        parts.append(f"{attack} ran with {ran}({queries} queries per image at most)")
    return "; ".join(parts)


def models_text(rows: pd.DataFrame) -> str:
    models = sorted(set(rows["model"]))
    steps = sorted(int(s) for s in rows["steps"].dropna().unique())
    return f"Model: {', '.join(models)}" + (f", {', '.join(f'{s:,}' for s in steps)} training steps" if steps else "")


def data_text(data: Results, databases: Sequence[str]) -> str:
    synthetic = " (SYNTHETIC sample data)" if data.synthetic else ""
    return f"Data: {', '.join(databases)}{synthetic}, attacked spoof test images."


def images_text(counts: Sequence[int]) -> str:
    """'8 spoof images per curve' or '6-8 spoof images per curve'."""
    if not counts:
        return "no spoof image"
    lo, hi = min(counts), max(counts)
    return f"{lo if lo == hi else f'{lo}-{hi}'} spoof images per curve"


def model_label(rows: pd.DataFrame, varied: set[str]) -> str:
    """A curve's model in words: its augmentation, plus the steps and seed where the curves differ in them."""
    first = rows.iloc[0]
    label = augment_label(first["augment"])
    if "steps" in varied and not pd.isna(first["steps"]):
        label += f", {int(first['steps']):,} steps"
    if "train_seed" in varied and not pd.isna(first["train_seed"]):
        label += f", seed {int(first['train_seed'])}"
    return label


def varied_axes(groups: Sequence[pd.DataFrame]) -> set[str]:
    """Which model axes differ between the curves' row groups (those the labels must name)."""
    out = set()
    for axis in ("augment", "steps", "train_seed"):
        if len({str(g[axis].iloc[0]) for g in groups if len(g)}) > 1:
            out.add(axis)
    return out
