"""How many pixels a spoof needs (report stage): the field's robust accuracy against epsilon, for L0.

For each model (behind each defence) and attack configuration, over the spoof images it attacked: the
share still refused (called spoof) when the attacker may change at most x pixels, against x, at each
query budget, with Wilson 95 % intervals; and a table of the median pixels needed at fixed budgets.

A row says at which pixel count its image was called live within a budget of q queries:
- an attack that shrinks the pixels (a decision-based one, or `pixels: auto`): its L0 trajectory at q,
  each point an image the target called live; the final one re-verified from the PNG;
- a fixed-pixel attack: its pixels changed, when it succeeded (verified) within q queries;
- an image called live before any change: 0; never called live within q: infinity.
A fixed-pixel attack run at several pixel counts on the same images contributes, per image, the fewest
pixels any of its runs needed. Every number here is computed from the stored rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..metrics import wilson_interval
from .columns import augment_label, criterion_text
from .figure_parts import Drawn, grid

#: The budgets a curve and the median table are read at (each below a configuration's own budget), and that one.
BUDGETS = (200, 1_000, 3_000, 10_000)
_GROUP = ["database", "model_key", "defence", "eot_draws", "attack", "setting_key"]


def pixels_needed(rows: pd.DataFrame, queries: float) -> np.ndarray:
    """Per row, the pixels at which its image was called live within `queries` queries (inf: not)."""
    out = np.full(len(rows), np.inf)
    for i, row in enumerate(rows.itertuples(index=False)):
        if bool(row.already_live):
            out[i] = 0
            continue
        if row.verified != 1:
            continue
        trail = np.asarray(row.l0_trajectory, dtype=float).reshape(-1, 2)
        if len(trail):
            at = np.searchsorted(trail[:, 0], queries, side="right") - 1
            out[i] = trail[at, 1] if at >= 0 else np.inf
        elif bool(row.success) and row.queries <= queries:
            out[i] = row.pixels_changed
    return out


def per_image(rows: pd.DataFrame, queries: float) -> np.ndarray:
    """The fewest pixels each image needed within `queries`, over every run of the configuration."""
    needed = pd.Series(pixels_needed(rows, queries), index=rows["image_id"].to_numpy())
    return needed.groupby(level=0).min().to_numpy()


def budgets_of(rows: pd.DataFrame) -> list[int]:
    own = int(rows["query_budget"].max())
    return [b for b in BUDGETS if b < own] + [own]


def refused_share(needed: np.ndarray, pixels: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(share still refused, Wilson low, high) when at most x pixels may change, for each x."""
    n = len(needed)
    refused = [int((needed > x).sum()) for x in pixels]
    bounds = np.array([wilson_interval(k, n) for k in refused]).reshape(-1, 2)
    return np.array(refused) / max(n, 1), bounds[:, 0], bounds[:, 1]


def configurations(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(label, spoof rows) per model, defence and attack configuration, own-database models only; none
    unless some attack searched how many pixels each image needs (the paper's fixed-pixel runs have Fig. 3)."""
    if not len(rows) or not rows["open_pixels"].astype(bool).any():
        return []
    rows = rows[rows["is_spoof"].astype(bool) & rows["train_database"].isna()]
    out = []
    for _, group in rows.groupby(_GROUP, sort=True, dropna=False):
        first = group.iloc[0]
        model = augment_label(first["augment"]) + (f", {int(first['steps']):,} steps" if pd.notna(first["steps"])
                                                   else "")
        defence = "" if first["defence"] == "none" else f" behind {first['defence']}"
        out.append((f"{first['database']}: {model}{defence}; {first['setting']}", group))
    return out


def robustness_figure(rows: pd.DataFrame) -> Drawn | str:
    """One panel per configuration: share still refused against pixels changed, one curve per budget."""
    chosen = configurations(rows)
    if not chosen:
        return "no attack searched how many pixels each image needs (a decision-based attack, or pixels: auto)"
    fig, axes = grid(len(chosen))
    widest = 1
    for ax, (label, group) in zip(axes, chosen, strict=False):
        needed_all = [per_image(group, b) for b in budgets_of(group)]
        finite = np.concatenate([n[np.isfinite(n)] for n in needed_all])
        top = int(max(finite.max() if len(finite) else 1, 1))
        widest = max(widest, top)
        xs = np.unique(np.round(np.geomspace(1, max(2, top * 1.25), 60)).astype(int))
        for budget, needed in zip(budgets_of(group), needed_all, strict=True):
            share, low, high = refused_share(needed, xs)
            line, = ax.step(xs, 100 * share, where="post", label=f"{budget:,} queries")
            ax.fill_between(xs, 100 * low, 100 * high, step="post", alpha=0.15, color=line.get_color())
        ax.set_xscale("log")
        ax.set_ylim(-2, 102)
        ax.set_xlabel("pixels the attacker may change (L0)")
        ax.set_ylabel("spoofs still refused (%)")
        ax.set_title(label, fontsize=7.5)
        ax.legend(fontsize=7)
    for ax in axes[len(chosen):]:
        ax.set_visible(False)
    spoofs = sorted({int(g["image_id"].nunique()) for _, g in chosen})
    caption = (f"Share of the attacked spoof images still called spoof when the attacker may change at most x "
               f"pixels, read at each query budget (queries per image, the clean query included) from each row's "
               f"L0 trajectory (decision-based attacks and pixels: auto) or its verified success at its fixed "
               f"pixel count (over all of that attack's pixel counts, per image the fewest); an image called live "
               f"before the attack is not refused at any x. {spoofs[0]}{f'-{spoofs[-1]}' if len(spoofs) > 1 else ''} "
               f"spoof images per panel; {criterion_text(rows)}. Bands: Wilson 95 % intervals.")
    return Drawn("robustness", fig, "Robustness against pixels changed (L0)", caption)


def median_interval(values: np.ndarray) -> tuple[float, float, float]:
    """(median, low, high): the 95 % distribution-free interval of a median from order statistics
    (binomial(n, 1/2) ranks); infinity where more than that share of images was never called live."""
    from scipy.stats import binom

    ordered = np.sort(np.asarray(values, dtype=float))
    n = len(ordered)
    if n == 0:
        return (np.nan, np.nan, np.nan)
    rank = int(binom.ppf(0.025, n, 0.5))  # the interval is [X_(rank), X_(n - rank + 1)], 1-based
    return (float(np.median(ordered)), float(ordered[max(rank - 1, 0)]), float(ordered[min(n - rank, n - 1)]))


def median_table(rows: pd.DataFrame):
    """The `Table` of the median pixels needed at each budget per configuration, with its interval (None
    without attacked spoofs)."""
    from .tables import Table

    chosen = configurations(rows)
    if not chosen:
        return None
    records, shown = [], []
    for label, group in chosen:
        record = {"Configuration": label, "Spoofs": int(group["image_id"].nunique())}
        text = dict(record)
        for budget in (*BUDGETS, None):
            own = budgets_of(group)[-1]
            at = own if budget is None else budget
            if budget is not None and budget >= own:
                continue
            needed = per_image(group, at)
            median, low, high = median_interval(needed)
            name = "own budget" if budget is None else f"{budget:,} queries"
            record.update({f"Median L0 @ {name}": median, f"Median L0 @ {name} CI low": low,
                           f"Median L0 @ {name} CI high": high, f"Fooled @ {name}": int(np.isfinite(needed).sum())})
            text[f"Median pixels @ {name}" + (f" ({own:,})" if budget is None else "")] = (
                f"{_count(median)} [{_count(low)}, {_count(high)}]; fooled {int(np.isfinite(needed).sum())}")
        records.append(record)
        shown.append(text)
    caption = ("Median pixels changed to have each attacked spoof image called live, read at each query budget "
               "(per image; 'never' where more than half were not called live within it), with its 95 % "
               "distribution-free interval (order statistics) and how many were fooled; configurations as in the "
               f"robustness figure; {criterion_text(rows)}. Each configuration's own budget is its last column.")
    return Table("median-pixels", "Median pixels needed at fixed budgets", caption, pd.DataFrame(records),
                 pd.DataFrame(shown).fillna("—"))


def _count(value: float) -> str:
    return "—" if value != value else ("never" if np.isinf(value) else f"{value:,.0f}")
