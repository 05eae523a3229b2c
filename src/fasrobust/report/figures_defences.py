"""The defence trade-off figure: recall drop under attack (vertical error bar) against clean accuracy
(horizontal error bar), one point per defence stack and model, one panel per database and attack, first
the worst case over the attacks where several ran (`defence_worst_case.py`, what the goal is judged on), the
undefended model marked, the goal region of the panel's baseline shaded and each point that meets the
goal against its own reference filled (`goal.py`: the same rule as the defence table's flag). Report
stage: Results -> `Drawn` -> figures.py saves it.

Clean accuracy is the evaluation of the same model behind the same deployed stack on the same database
(the systems frame); a stack without such an evaluation is named in the caption and not drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from matplotlib.patches import Rectangle

from .columns import augment_label
from .defence_worst_case import WorstCase, worst_cases
from .figure_parts import (
    Drawn,
    data_text,
    drop_interval,
    drop_method,
    grid,
    images_text,
    methods_text,
    models_text,
    ran_text,
    threshold_text,
)
from .figure_scope import UNDEFENDED
from .goal import Goal, goal_text, meets_goal, references
from .results import Results
from .summary import Selection, recall_stats, selections

KEY = "defence-tradeoff"


@dataclass(frozen=True)
class Point:
    model_key: str
    model: str  # the model in words
    augment: str
    variant: str
    defence: str
    acc: float  # percent
    acc_ci: tuple[float, float]
    drop: float  # percentage points
    drop_ci: tuple[float, float]
    drop_method: str
    spoofs: int

    @property
    def undefended(self) -> bool:
        return self.defence == UNDEFENDED

    def as_system(self) -> dict[str, Any]:
        """What `goal.py` reads of a point."""
        return {"model_key": self.model_key, "undefended": self.undefended, "augment": self.augment,
                "variant": self.variant, "recall_drop": self.drop, "acc": self.acc}


def tradeoff_figure(data: Results) -> Drawn | str:
    rows = data.attacks
    rows = rows[rows["train_database"].isna()] if len(rows) else rows
    if not len(rows) or (rows["defence"] == UNDEFENDED).all():
        return "no attack on a defended target (same database)"
    panels, unevaluated = [], []
    worst = {case.database: case for case in worst_cases(data)}
    for database in sorted(rows["database"].unique()):
        db_rows = rows[rows["database"] == database]
        models = (set(db_rows.loc[db_rows["defence"] != UNDEFENDED, "model_key"]) | _defence_study_models(data, database)
                  | _trained_defences(db_rows))
        if database in worst:
            points, missing = _worst_points(worst[database], models)
            unevaluated += missing
            if points:
                case = worst[database]
                used = db_rows[db_rows["setting_key"].isin({s.setting_key for s in case.selections})
                               & (db_rows["pixels"] == case.pixels) & db_rows["model_key"].isin(models)]
                panels.append(Panel(database, f"worst case over {', '.join(case.attacks)}", case.pixels,
                                    _worst_case_text(case), points, used))
        for sel in selections(data, db_rows, database):
            mine = db_rows[(db_rows["setting_key"] == sel.setting_key) & (db_rows["pixels"] == sel.pixels)
                           & (db_rows["budget"] >= sel.budget) & db_rows["model_key"].isin(models)]
            points, missing = _points(data, mine, sel)
            unevaluated += missing
            if points:
                panels.append(Panel(database, sel.attack, sel.pixels, sel.describe(), points, mine))
    if not panels:
        return "no defended stack with a clean evaluation"
    fig, axes = grid(len(panels))
    for ax, panel in zip(axes, panels, strict=True):
        _draw_panel(ax, panel)
    used = pd.concat([p.rows for p in panels])
    caption = _caption(data, panels, used, unevaluated)
    return Drawn(KEY, fig, "Defences: recall drop under attack against clean accuracy", caption)


def _defence_study_models(data: Results, database: str) -> set[str]:
    """Models of the studies that ask for defences (an adversarially trained model among them is a point
    too, though nothing stands in front of it)."""
    points = data.studies[data.studies["database"] == database]
    defended = set(points.loc[points["defence"] != UNDEFENDED, "study"])
    return set(points.loc[points["study"].isin(defended), "model_key"])


def _trained_defences(rows: pd.DataFrame) -> set[str]:
    """Models whose defence is in their training (a training variant such as adversarial fine-tuning, or
    impulse-noise augmentation): points of the trade-off too, with nothing in front of them."""
    variant = rows["variant"] if "variant" in rows else pd.Series("standard", index=rows.index)
    trained = (variant.fillna("standard") != "standard") | rows["augment"].astype(str).str.contains("impulse")
    return set(rows.loc[trained, "model_key"])


def _points(data: Results, rows: pd.DataFrame, sel: Selection) -> tuple[list[Point], list[str]]:
    several = rows["model_key"].nunique() > 1
    points, missing = [], []
    for (model_key, defence, draws), group in rows.groupby(["model_key", "defence", "eot_draws"], sort=False):
        first = group.iloc[0]
        variant = str(first["variant"])
        model = augment_label(first["augment"]) + (f" ({variant})" if variant not in ("standard", "nan") else "")
        shown = str(defence) + (f" (eot {int(draws)})" if int(draws) > 1 else "")
        if not bool(first["evaluated"]) or pd.isna(first["acc"]):
            missing.append(f"{model} behind {shown}" if several else shown)
            continue
        stats = recall_stats(group, sel.budget if sel.budget_field else None)
        points.append(Point(str(model_key), model, str(first["augment"]), variant, shown, float(first["acc"]),
                            tuple(float(v) for v in first["acc_ci"]), float(stats["recall_drop"]),
                            drop_interval(stats), drop_method(stats), int(stats["spoofs"])))
    return points, missing


@dataclass(frozen=True)
class Panel:
    database: str
    attack: str  # the attack, or the worst case over several, in words
    pixels: int
    taken_at: str  # which budget the numbers are read at
    points: list[Point]
    rows: pd.DataFrame


def _worst_points(case: WorstCase, models: set[str]) -> tuple[list[Point], list[str]]:
    """The trade-off points of a database's worst case (`defence_worst_case.py`)."""
    points, missing = [], []
    for system in case.systems:
        if system.model_key not in models:
            continue
        acc = system.metrics.get("acc")
        if acc is None or pd.isna(acc):
            missing.append(f"{system.model_label} behind {system.defence}")
            continue
        stats = system.worst
        points.append(Point(system.model_key, system.model_label, system.augment, system.variant, system.defence,
                            float(acc), tuple(float(v) for v in system.metrics["acc_ci"]),
                            float(stats["recall_drop"]), drop_interval(stats), drop_method(stats),
                            int(stats["spoofs"])))
    return points, missing


def _worst_case_text(case: WorstCase) -> str:
    return (f"the worst case over {', '.join(case.attacks)} (a spoof counts as fooled when any of them fooled it), "
            f"{case.pixels} pixels, {case.queries:,} queries per image for each attack")


def _draw_panel(ax, panel: Panel) -> None:
    database, points = panel.database, panel.points
    several = len({p.model_key for p in points}) > 1
    marks = _goal_marks(points)
    for p, met in zip(points, marks, strict=True):
        label = (f"{p.model}: " if several else "") + ("undefended" if p.undefended else p.defence)
        label += " (meets the goal)" if met else ""
        ax.errorbar([p.acc], [p.drop], xerr=[[p.acc - p.acc_ci[0]], [p.acc_ci[1] - p.acc]],
                    yerr=[[p.drop - p.drop_ci[0]], [p.drop_ci[1] - p.drop]], fmt="s" if p.undefended else "o",
                    ms=8 if p.undefended else 6, mfc="white" if p.undefended else ("#2ca02c" if met else None),
                    mew=2 if p.undefended else 1, capsize=3, label=label)
    left = min(p.acc_ci[0] for p in points) - 2
    right = min(100.5, max(p.acc_ci[1] for p in points) + 2)
    baseline = _baseline(points)
    if baseline is not None:
        goal = Goal.against(baseline.drop, baseline.acc)
        x0, top = goal.acc_at_least, goal.drop_at_most
        ax.add_patch(Rectangle((x0, -2), max(0.0, right - x0), top + 2, color="#2ca02c", alpha=0.12, lw=0,
                               label=f"goal against {baseline.model} undefended: drop <= {top:.1f}, ACC >= {x0:.1f}"))
        ax.text(x0, top, " goal", fontsize=7, va="bottom", color="#1b6b1b", clip_on=True)
    ax.set(title=f"{database}: {_short(panel.attack)}, {panel.pixels} pixels", xlim=(left, right), ylim=(-2, 102),
           xlabel="clean accuracy at 0.5 (%)", ylabel="recall drop under attack (points)")
    ax.grid(alpha=0.3)
    # Points gather at high accuracy, at the top (the attack wins) or the bottom (the defence does): the
    # legend goes to the middle left, where they are not.
    ax.legend(fontsize=7, loc="center left")


def _goal_marks(points: list[Point]) -> list[bool]:
    """Whether each point meets the goal against its own reference (`goal.references`)."""
    systems = [p.as_system() for p in points]
    return [reference is not None and reference is not system and meets_goal(system, reference) is True
            for system, reference in zip(systems, references(systems), strict=True)]


def _baseline(points: list[Point]) -> Point | None:
    """The reference of the undefended models' rows (the undefended standard model without augmentation, or
    the first undefended model): its goal region is the one shaded."""
    systems = [p.as_system() for p in points]
    for p, reference in zip(points, references(systems), strict=True):
        if p.undefended and reference is not None:
            return points[systems.index(reference)]
    return None


def _short(attack: str, width: int = 60) -> str:
    """A panel title's attack, cut to fit (the caption names them all)."""
    return attack if len(attack) <= width else attack[:width - 1] + "…"


def _caption(data: Results, panels: list[Panel], rows: pd.DataFrame, unevaluated: list[str]) -> str:
    spoofs = [pt.spoofs for p in panels for pt in p.points]
    stacks = sorted({pt.defence for p in panels for pt in p.points})
    goal = []
    for panel in panels:
        met = [p.defence if not p.undefended else p.model
               for p, m in zip(panel.points, _goal_marks(panel.points), strict=True) if m]
        goal.append(f"{panel.database}, {panel.attack}: " + (", ".join(met) if met else "no defence") + " meets it")
    eot = " (eot K: the attack averaged K answers of a randomized pipeline per query)" if any(
        "(eot" in s for s in stacks) else ""
    parts = [f"{data_text(data, sorted({p.database for p in panels}))} {models_text(rows)}, each attacked on its own "
             f"database. Defence stacks: {', '.join(stacks)}{eot}. Numbers taken at: "
             f"{'; '.join(p.taken_at for p in panels)}; {ran_text(rows)}. "
             f"y: recall drop under attack through the whole defended pipeline, with its 95 % interval "
             f"({methods_text({pt.drop_method for p in panels for pt in p.points})}), "
             f"{images_text(spoofs).replace('curve', 'point')}; x: clean accuracy on the test split at "
             f"{threshold_text(rows)}, behind the deployed stack, with its 95 % interval (as evaluated, else "
             f"Wilson). Open square: the undefended model. Shaded: the goal of the baseline ({goal_text(panels[0].pixels)}); "
             f"filled green: a point that meets it against its own reference; {'; '.join(goal) or 'no reference'}."]
    if unevaluated:
        parts.append(f"Not drawn, no clean evaluation stored: {', '.join(sorted(set(unevaluated)))}.")
    return " ".join(parts)


__all__ = ["KEY", "Point", "tradeoff_figure"]
