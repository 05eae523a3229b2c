"""The paper's five findings, each tested on the run's own attack rows: data in, verdicts out.

Report stage, beside the tables: `RunData` (data.py) -> `judge_findings` -> five `Finding`s that the
HTML page and report.json render. Nothing here draws or formats a page.

Every test is paired and clustered: the plan attacks the same FaceSet ids under every setting, so a
setting is compared with another on the same images, and a bootstrap resample draws whole source videos
(`fasrobust.stats.trend`). A recall change is per image: 100 x (caught before - caught after), whose mean
is the paper's recall drop in points. Verdicts use an equivalence margin, so that "does not hold" is a
finding (the effect is shown to be smaller than the margin) and not an absence of evidence; an interval
that straddles both no effect and the margin, too few images, or an axis the study did not vary gives
"cannot be judged", with the reason and what would decide it.

Rows used: spoof images, undefended targets (`defence` "none" or absent), each model on its own database
(no `train_database`); the paper's attack (DE, "pixel") when stored, the other attacks reported beside it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum, StrEnum
from typing import Any

import numpy as np
import pandas as pd

from ..experiments.attack_stats import fooled_within
from ..stats.resample import DEFAULT_RESAMPLES, percentile_interval
from ..stats.trend import cell_means, within_slope
from .data import RunData, queries_at_budget
from .paper_numbers import paper_database, published

PAPER_ATTACK = "pixel"
#: The smallest recall-drop effect (points) a finding is about: a smaller change counts as none.
MARGIN_POINTS = 5.0
#: The same for the fall of the mean best spoof confidence (points of confidence, 0-100).
FITNESS_MARGIN_POINTS = 1.0
#: Fewer spoof images per setting than this cannot resolve a MARGIN_POINTS effect (the standard error of a
#: recall over n images is up to 50 / sqrt(n) points: 9 points at 30).
MIN_IMAGES = 30
#: Where the paper sees the recall drop saturate, in DE generations; other attacks: the queries of the
#: paper's DE (population 400) at that many generations.
SATURATION_ITERATIONS = 300
PAPER_POPULATION = 400
SATURATION_QUERIES = 1 + PAPER_POPULATION * (SATURATION_ITERATIONS + 1)
_BUDGET_POINTS = 7


class Verdict(StrEnum):
    HOLDS = "holds"
    DOES_NOT_HOLD = "does not hold"
    CANNOT_BE_JUDGED = "cannot be judged"


class FindingKey(StrEnum):
    PIXELS = "pixels"
    ITERATIONS = "iterations"
    STEPS = "steps"
    AUGMENTATION = "augmentation"
    FITNESS = "fitness"


CLAIMS = {
    FindingKey.PIXELS: "The recall drop grows with the number of pixels the attack may change.",
    FindingKey.ITERATIONS: "The recall drop grows with the iteration budget and mostly saturates near 300 "
                           "iterations.",
    FindingKey.STEPS: "Longer training does not make the model more robust.",
    FindingKey.AUGMENTATION: "Data augmentation does not protect against the attack.",
    FindingKey.FITNESS: "The mean best fitness falls steadily over the generations.",
}
TESTS = {
    FindingKey.PIXELS: "paired cluster-bootstrap least-squares slope of recall drop per pixel, 95 %",
    FindingKey.ITERATIONS: "paired cluster-bootstrap slope of recall drop per 100 budget units up to "
                           f"{SATURATION_ITERATIONS} iterations, and the gain beyond it, 95 %",
    FindingKey.STEPS: "paired cluster-bootstrap slope of recall drop per log10 training step, 95 %",
    FindingKey.AUGMENTATION: "paired cluster-bootstrap difference in recall drop, each augmentation vs none, "
                             "95 %",
    FindingKey.FITNESS: "paired cluster-bootstrap fall of the mean best spoof confidence, first and second "
                        "half of the generations, 95 %",
}


@dataclass(frozen=True)
class Finding:
    key: str
    claim: str
    test: str
    verdict: Verdict
    estimate: float | None
    interval: tuple[float, float] | None
    unit: str
    n_images: int
    image_set: str
    reason: str = ""
    decide: str = ""
    paper: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = self.verdict.value
        out["interval"] = None if self.interval is None else [float(v) for v in self.interval]
        return _plain(out)


def judge_findings(data: RunData, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> list[Finding]:
    """The five findings, in the paper's order, on the run's undefended same-database spoof rows."""
    rows = eligible_rows(data.attacks)
    return [_per_attack(key, judge, data, rows, resamples, seed) for key, judge in _JUDGES.items()]


def eligible_rows(attacks: pd.DataFrame) -> pd.DataFrame:
    """Spoof rows of undefended targets, each model on its own database."""
    if attacks.empty:
        return attacks
    mask = attacks["is_spoof"].astype(bool) if "is_spoof" in attacks else pd.Series(True, index=attacks.index)
    if "defence" in attacks:
        mask &= attacks["defence"].fillna("none").astype(str).isin(["none", ""])
    if "train_database" in attacks:
        mask &= attacks["train_database"].isna()
    return attacks[mask]


# ----- one attack at a time ------------------------------------------------------------------------------------
Judge = Callable[[RunData, pd.DataFrame, int, int], Finding]


def _per_attack(key: FindingKey, judge: Judge, data: RunData, rows: pd.DataFrame, resamples: int,
                seed: int) -> Finding:
    attacks = sorted(set(rows["attack"]), key=lambda a: (a != PAPER_ATTACK, a)) if len(rows) else []
    if not attacks:
        return _cannot(key, "no undefended spoof image was attacked in this run", "attack spoof images of an "
                       f"undefended model, >= {MIN_IMAGES} per setting")
    found = {attack: judge(data, rows[rows["attack"] == attack], resamples, seed) for attack in attacks}
    # The paper's attack speaks for the finding when its rows can judge it; otherwise the first attack whose
    # rows can (a study may vary pixels or models with Sparse-RS and keep the DE for its own generations).
    # When none can, the first whose rows at least gave an estimate says more than one that never varied the axis.
    chosen = (next((a for a in attacks if found[a].verdict is not Verdict.CANNOT_BE_JUDGED), None)
              or next((a for a in attacks if found[a].estimate is not None), attacks[0]))
    main = found[chosen]
    others = {a: {"verdict": f.verdict.value, "estimate": f.estimate, "interval": f.interval, "reason": f.reason}
              for a, f in found.items() if a != chosen}
    return Finding(**{**main.__dict__, "details": {**main.details, "attack": chosen, "other_attacks": others}})


def _cannot(key: FindingKey, reason: str, decide: str, *, unit: str = "", n_images: int = 0,
            image_set: str = "", estimate: float | None = None, interval=None, paper=None,
            details: dict | None = None) -> Finding:
    return Finding(key.value, CLAIMS[key], TESTS[key], Verdict.CANNOT_BE_JUDGED, estimate, interval, unit,
                   n_images, image_set, reason, decide, paper, details or {})


# ----- per-image recall changes ---------------------------------------------------------------------------------
def recall_changes(rows: pd.DataFrame, budget: int | None = None) -> np.ndarray:
    """Per row: 100 x (caught before - caught after) at `budget` of the row's attack (None: as stored)."""
    threshold = rows["threshold"].to_numpy(dtype=float)
    before = rows["p_live_before"].to_numpy(dtype=float) < threshold
    queries = queries_at_budget(rows, budget) if budget is not None else None
    after = ~fooled_within(rows, queries)
    return 100.0 * (before.astype(float) - after.astype(float))


def _clusters(rows: pd.DataFrame) -> np.ndarray:
    return (rows["database"].astype(str) + "\x00" + rows["source"].astype(str)).to_numpy()


def _context(rows: pd.DataFrame, columns: list[str]) -> pd.Series:
    present = [c for c in columns if c in rows.columns]
    if not present:
        return pd.Series("all", index=rows.index)
    return rows[present].astype(str).agg("|".join, axis=1)


def _common_budget_changes(rows: pd.DataFrame, contexts: pd.Series) -> np.ndarray:
    """Recall changes with every context read at its smallest stored budget, so its settings compare at
    one budget (larger ones are cut down from their stored queries)."""
    out = np.empty(len(rows))
    for _, index in rows.groupby(contexts.to_numpy()).indices.items():
        part = rows.iloc[index]
        out[index] = recall_changes(part, int(part["budget"].min()))
    return out


def _image_set(rows: pd.DataFrame, what: str, settings: pd.Series | None = None) -> str:
    """Which images: how many, from how many videos, paired or not across `settings` (one label per
    row; None: the same rows read at several budgets, paired by construction), and the criterion."""
    videos = rows["source"].nunique()
    thresholds = ", ".join(f"{t:g}" for t in sorted(rows["threshold"].unique()))
    pairing = "the same images under every setting (paired)"
    if settings is not None:
        images = rows["database"].astype(str) + ":" + rows["image_id"].astype(str)
        per_setting = [frozenset(v) for v in images.groupby(settings.to_numpy()).agg(set)]
        common = frozenset.intersection(*per_setting) if per_setting else frozenset()
        if len(set(per_setting)) > 1:
            pairing = (f"not the same images under every setting: {len(common)} are in all of them, the others "
                       "enter only the settings that attacked them")
    return (f"{rows['image_id'].nunique()} spoof images from {videos} videos, {pairing}; {what}; called live "
            f"iff P(live) >= {thresholds}")


# ----- verdict arithmetic --------------------------------------------------------------------------------------
def _interval(replicates: np.ndarray) -> tuple[float, float] | None:
    lo, hi = percentile_interval(replicates)
    return None if math.isnan(lo) else (lo, hi)


def _too_few(n: int) -> str:
    return f"{n} spoof images per setting, fewer than the {MIN_IMAGES} a {MARGIN_POINTS:g}-point effect needs"


def _needed(n: int, interval: tuple[float, float] | None, margin: float) -> int:
    """Images per setting for an interval about as wide as the margin (width shrinks as 1/sqrt(n))."""
    if interval is None or margin <= 0:
        return MIN_IMAGES * 4
    width = interval[1] - interval[0]
    return max(MIN_IMAGES, math.ceil(n * (width / margin) ** 2))


def _wide(interval: tuple[float, float], unit: str, margin: float, n: int) -> str:
    lo, hi = interval
    return (f"{n} spoof images per setting: the interval [{lo:.2f}, {hi:.2f}] {unit} is {hi - lo:.2f} wide, "
            f"and holds both no effect and the {margin:.2f} {unit} margin")


def _judged(key: FindingKey, *, holds: bool, fails: bool, estimate: float, interval, unit: str, n_min: int,
            margin: float, n_images: int, image_set: str, paper=None, details=None) -> Finding:
    """The verdict from the interval: too few images first, then holds, does not hold, or too wide."""
    decide = f"attack >= {_needed(n_min, interval, margin)} spoof images per setting"
    common = dict(unit=unit, n_images=n_images, image_set=image_set, estimate=estimate, interval=interval,
                  paper=paper, details=details)
    if interval is None:
        return _cannot(key, "the statistic is undefined on every resample", decide, **common)
    if n_min < MIN_IMAGES:
        width = interval[1] - interval[0]
        return _cannot(key, f"{_too_few(n_min)}: the interval is {width:.2f} {unit} wide", decide, **common)
    verdict = Verdict.HOLDS if holds else Verdict.DOES_NOT_HOLD if fails else None
    if verdict is None:
        return _cannot(key, _wide(interval, unit, margin, n_min), decide, **common)
    return Finding(key.value, CLAIMS[key], TESTS[key], verdict, estimate, interval, unit, n_images, image_set,
                   "", "", paper, details or {})


# ----- 1, 3: a trend over a setting ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Trend:
    slope: float
    interval: tuple[float, float] | None
    span: float
    n_min: int
    per_setting: dict[str, float]


def _trend(rows: pd.DataFrame, x: np.ndarray, contexts: pd.Series, changes: np.ndarray, resamples: int,
           seed: int) -> Trend | None:
    """Slope of the per-setting recall drop on x, within contexts that vary x; None when none does."""
    frame = pd.DataFrame({"context": contexts.to_numpy(), "x": x, "change": changes, "cluster": _clusters(rows)})
    varied = frame.groupby("context")["x"].nunique()
    frame = frame[frame["context"].isin(varied[varied >= 2].index)]
    if frame.empty:
        return None
    cells = frame.groupby(["context", "x"]).ngroup().to_numpy()
    means = cell_means(frame["change"], cells, frame["cluster"], resamples=resamples, seed=seed)
    first = frame.groupby(cells).first()
    context_codes = pd.factorize(first["context"])[0]
    slope = float(within_slope(means.estimate, first["x"].to_numpy(), context_codes)[0])
    replicates = within_slope(means.replicates, first["x"].to_numpy(), context_codes)
    per_setting = frame.groupby("x")["change"].mean()
    return Trend(slope, _interval(replicates), float(frame["x"].max() - frame["x"].min()),
                 int(means.counts.min()), {f"{k:g}": float(v) for k, v in per_setting.items()})


def _judge_pixels(data: RunData, rows: pd.DataFrame, resamples: int, seed: int) -> Finding:
    key, unit = FindingKey.PIXELS, "points per pixel"
    contexts = _context(rows, ["database", "model_key", "setting_key"])
    pixels = rows["pixels"].to_numpy(dtype=float)
    trend = _trend(rows, pixels, contexts, _common_budget_changes(rows, contexts), resamples, seed)
    if trend is None:
        values = ", ".join(str(int(p)) for p in sorted(set(pixels)))
        return _cannot(key, f"the run attacked one pixel count ({values}) per model", "a study whose attack "
                       "grid varies pixels, e.g. [1, 3, 9]", unit=unit, n_images=rows["image_id"].nunique())
    margin = MARGIN_POINTS / trend.span
    lo, hi = trend.interval or (np.nan, np.nan)
    return _judged(key, holds=lo > 0, fails=hi < margin, estimate=trend.slope, interval=trend.interval, unit=unit,
                   n_min=trend.n_min, margin=margin, n_images=rows["image_id"].nunique(),
                   image_set=_image_set(rows, "each model and attack setting at its smallest stored budget",
                                        contexts + ":" + rows["pixels"].astype(str)),
                   details={"recall_drop_per_pixels": trend.per_setting, "margin": margin})


def _judge_steps(data: RunData, rows: pd.DataFrame, resamples: int, seed: int) -> Finding:
    key, unit = FindingKey.STEPS, "points per log10 step"
    rows = rows[rows["steps"].notna()] if "steps" in rows else rows.iloc[:0]
    if rows.empty:
        return _cannot(key, "no attacked model records its training steps", "a study with steps [10000, 50000]",
                       unit=unit)
    contexts = _context(rows, ["database", "augment", "model", "train_seed", "setting_key", "pixels"])
    steps = np.log10(rows["steps"].to_numpy(dtype=float))
    trend = _trend(rows, steps, contexts, _common_budget_changes(rows, contexts), resamples, seed)
    paper = _paper_steps_slope(data, rows)
    if trend is None:
        values = ", ".join(f"{int(s):,}" for s in sorted(set(rows["steps"].astype(int))))
        return _cannot(key, f"the run trained one step count ({values}) per setting", "a study whose grid varies "
                       "steps, e.g. [10000, 50000]", unit=unit, n_images=rows["image_id"].nunique(), paper=paper)
    margin = MARGIN_POINTS / trend.span
    lo, hi = trend.interval or (np.nan, np.nan)
    # More robust = a smaller drop: the claim holds unless more training lowers the drop by the margin.
    return _judged(key, holds=lo > -margin, fails=hi < 0, estimate=trend.slope, interval=trend.interval,
                   unit=unit, n_min=trend.n_min, margin=margin, n_images=rows["image_id"].nunique(),
                   image_set=_image_set(rows, "each model at the smallest stored budget of its setting",
                                        contexts + ":" + rows["steps"].astype(str)),
                   paper=paper, details={"recall_drop_per_log10_steps": trend.per_setting, "margin": margin})


def _paper_steps_slope(data: RunData, rows: pd.DataFrame) -> float | None:
    key = _paper_key(data, rows)
    entry = published()["training_steps"].get(key) if key else None
    if entry is None:
        return None
    x = np.log10([float(s) for s in entry["columns"]])
    y = np.array([v["recall_drop"] for v in entry["columns"].values()], dtype=float)
    return float(np.polyfit(x, y, 1)[0])


def _paper_key(data: RunData, rows: pd.DataFrame) -> str | None:
    """The paper's database key when all rows are from one of its databases (never the synthetic sample)."""
    databases = set(rows["database"].astype(str))
    if len(databases) != 1 or data.synthetic:
        return None
    return paper_database(databases.pop())


# ----- 4: each augmentation against none -----------------------------------------------------------------------
def _judge_augmentation(data: RunData, rows: pd.DataFrame, resamples: int, seed: int) -> Finding:
    key, unit = FindingKey.AUGMENTATION, "points of recall drop vs none"
    contexts = _context(rows, ["database", "steps", "model", "train_seed", "setting_key", "pixels"])
    changes = _common_budget_changes(rows, contexts)
    frame = pd.DataFrame({"context": contexts.to_numpy(), "augment": rows["augment"].astype(str).to_numpy(),
                          "change": changes, "cluster": _clusters(rows)})
    with_none = frame.groupby("context")["augment"].agg(lambda a: "none" in set(a) and a.nunique() >= 2)
    frame = frame[frame["context"].isin(with_none[with_none].index)]
    if frame.empty:
        present = ", ".join(sorted(set(rows["augment"].astype(str))))
        return _cannot(key, f"no model without augmentation was attacked beside one with it (settings: {present})",
                       "a study with augment [none, all] at one training length", unit=unit,
                       n_images=rows["image_id"].nunique())
    cells = frame.groupby(["context", "augment"]).ngroup().to_numpy()
    means = cell_means(frame["change"], cells, frame["cluster"], resamples=resamples, seed=seed)
    first = frame.groupby(cells).first().reset_index(drop=True)
    settings: dict[str, dict[str, Any]] = {}
    for augment in sorted(set(first["augment"]) - {"none"}):
        pairs = [(int(a), int(first.index[(first["context"] == c) & (first["augment"] == "none")][0]))
                 for a, c in zip(first.index[first["augment"] == augment], first["context"][first["augment"] == augment],
                                 strict=True)]
        with_a, without = (np.array(p) for p in zip(*pairs, strict=True))
        estimate = float(np.mean(means.estimate[with_a] - means.estimate[without]))
        replicates = np.mean(means.replicates[:, with_a] - means.replicates[:, without], axis=1)
        settings[augment] = {"estimate": estimate, "interval": _interval(replicates),
                             "n_min": int(min(means.counts[with_a].min(), means.counts[without].min()))}
    worst = min(settings, key=lambda a: settings[a]["estimate"])
    judged = [s for s in settings.values() if s["interval"] is not None]
    holds = bool(judged) and all(s["interval"][0] > -MARGIN_POINTS for s in judged)
    fails = any(s["interval"][1] < 0 for s in judged)
    paper = _paper_augmentation(data, rows)
    return _judged(key, holds=holds and not fails, fails=fails, estimate=settings[worst]["estimate"],
                   interval=settings[worst]["interval"], unit=unit,
                   n_min=min(s["n_min"] for s in settings.values()), margin=MARGIN_POINTS,
                   n_images=rows["image_id"].nunique(),
                   image_set=_image_set(rows, "each augmentation against none at one training length and budget",
                                        contexts + ":" + rows["augment"].astype(str)),
                   paper=None if paper is None else min(paper.values()),
                   details={"most_protective": worst, "per_augmentation": settings, "paper_per_augmentation": paper,
                            "margin": MARGIN_POINTS})


def _paper_augmentation(data: RunData, rows: pd.DataFrame) -> dict[str, float] | None:
    key = _paper_key(data, rows)
    entry = published()["augmentation"].get(key) if key else None
    if entry is None:
        return None
    none = entry["rows"]["none"]["recall_drop"]
    return {a: float(v["recall_drop"] - none) for a, v in entry["rows"].items() if a != "none"}


# ----- 2: the budget curve -------------------------------------------------------------------------------------
def _smallest_budget(rows: pd.DataFrame) -> int:
    """The smallest budget the rows' attack accepts (the DE's start population: 0 generations)."""
    from ..attacks import attack_class
    from ..errors import AttackError

    try:
        return int(attack_class(str(rows["attack"].iloc[0])).Settings.smallest_budget)
    except AttackError:  # an attack this fasrobust does not have
        return 1


def _saturation_budget(rows: pd.DataFrame) -> int | None:
    """The budget (in the rows' own budget field) at the paper's saturation point; None when the rows'
    stored budget does not reach it."""
    ceiling = int(rows["budget"].min())
    if rows["attack"].iloc[0] == PAPER_ATTACK:
        return SATURATION_ITERATIONS if ceiling >= SATURATION_ITERATIONS else None
    if queries_at_budget(rows.iloc[:1], ceiling)[0] < SATURATION_QUERIES:
        return None
    lo, hi = 0, ceiling  # the smallest budget whose queries reach SATURATION_QUERIES
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if queries_at_budget(rows.iloc[:1], mid)[0] < SATURATION_QUERIES else (lo, mid)
    return lo


def _judge_iterations(data: RunData, rows: pd.DataFrame, resamples: int, seed: int) -> Finding:
    key = FindingKey.ITERATIONS
    field_name = str(rows["budget_field"].iloc[0]) or "budget"
    unit = f"points per 100 {field_name}"
    group = rows[rows["pixels"] == rows["pixels"].max()]
    group = group[group["setting_key"] == group["setting_key"].value_counts().index[0]]
    ceiling = int(group["budget"].min())
    saturation = _saturation_budget(group)
    top = saturation if saturation is not None else ceiling
    budgets = sorted({int(round(b)) for b in np.linspace(_smallest_budget(group), top, _BUDGET_POINTS)})
    n_images = group["image_id"].nunique()
    if len(budgets) < 2:
        return _cannot(key, f"the stored budget is {ceiling} {field_name}: no curve", "attacks with a budget of "
                       f"{SATURATION_ITERATIONS + 100} iterations", unit=unit, n_images=n_images)
    models = _context(group, ["database", "model_key"])
    long = pd.concat([pd.DataFrame({"context": models.to_numpy(), "x": b / 100, "change": recall_changes(group, b),
                                    "cluster": _clusters(group)}) for b in budgets])
    cells = long.groupby(["context", "x"]).ngroup().to_numpy()
    means = cell_means(long["change"], cells, long["cluster"], resamples=resamples, seed=seed)
    first = long.groupby(cells).first()
    codes = pd.factorize(first["context"])[0]
    slope = float(within_slope(means.estimate, first["x"].to_numpy(), codes)[0])
    interval = _interval(within_slope(means.replicates, first["x"].to_numpy(), codes))
    margin = MARGIN_POINTS / ((budgets[-1] - budgets[0]) / 100)
    details: dict[str, Any] = {"budgets": budgets, "stored_budget": ceiling, "margin": margin,
                               "recall_drop_per_budget": {str(b): float(long[long["x"] == b / 100]["change"].mean())
                                                          for b in budgets}}
    image_set = _image_set(group, f"each image read at budgets {budgets} {field_name} from its stored queries "
                                  f"(attack run with {ceiling})")
    lo, hi = interval or (np.nan, np.nan)
    common = dict(unit=unit, n_images=n_images, image_set=image_set, estimate=slope, interval=interval)
    grows, flat = lo > 0, hi < margin
    if grows and int(means.counts.min()) >= MIN_IMAGES:
        late = _late_gain(group, saturation, ceiling, resamples, seed)
        details["gain_beyond_saturation"] = late
        if late is None:
            what = "equals" if saturation == ceiling else "is below"
            return _cannot(key, f"the drop grows, but the largest stored budget, {ceiling} {field_name}, {what} "
                           f"the saturation point ({SATURATION_ITERATIONS} iterations or its queries): "
                           "saturation cannot be judged", f"attacks with a budget of "
                           f"{SATURATION_ITERATIONS + 100} iterations or more", details=details, **common)
        if late["interval"][0] > MARGIN_POINTS:
            return Finding(key.value, CLAIMS[key], TESTS[key], Verdict.DOES_NOT_HOLD, slope, interval, unit,
                           n_images, image_set, "", "", None, {**details, "saturates": False})
        if late["interval"][1] >= MARGIN_POINTS:
            return _cannot(key, "the drop grows, but its gain beyond the saturation point is not resolved: "
                           + _wide(tuple(late["interval"]), "points", MARGIN_POINTS, int(means.counts.min())),
                           f"attack >= {_needed(int(means.counts.min()), late['interval'], MARGIN_POINTS)} spoof "
                           "images per setting", details=details, **common)
    return _judged(key, holds=grows, fails=flat and not grows, estimate=slope, interval=interval, unit=unit,
                   n_min=int(means.counts.min()), margin=margin, n_images=n_images, image_set=image_set,
                   details=details)


def _late_gain(rows: pd.DataFrame, saturation: int | None, ceiling: int, resamples: int,
               seed: int) -> dict[str, Any] | None:
    """Recall drop at the stored budget minus at the saturation point (points, paired), or None."""
    if saturation is None or ceiling <= saturation:
        return None
    gain = recall_changes(rows, ceiling) - recall_changes(rows, saturation)
    means = cell_means(gain, np.zeros(len(rows), dtype=int), _clusters(rows), resamples=resamples, seed=seed)
    return {"from": saturation, "to": ceiling, "estimate": float(means.estimate[0]),
            "interval": _interval(means.replicates[:, 0])}


# ----- 5: the best fitness along the generations ----------------------------------------------------------------
def best_confidence_at(trajectory: Any, queries: float) -> float:
    """The best spoof confidence an attack had reached within `queries` (its last change up to there;
    an attack that stopped early keeps its last value)."""
    points = np.asarray(trajectory, dtype=float).reshape(-1, 2)
    reached = points[points[:, 0] <= queries]
    return float(reached[-1, 1] if len(reached) else points[0, 1])


def _judge_fitness(data: RunData, rows: pd.DataFrame, resamples: int, seed: int) -> Finding:
    key, unit = FindingKey.FITNESS, "points of spoof confidence"
    attacked = rows[~rows["already_live"].astype(bool)]
    n_images = attacked["image_id"].nunique()
    if attacked.empty:
        return _cannot(key, "every spoof image was called live before the attack: no trajectory",
                       f"attack >= {MIN_IMAGES} spoof images the model detects", unit=unit)
    budget = int(attacked["budget"].min())
    start = _smallest_budget(attacked)
    generations = [start, (start + budget) // 2, budget]
    marks = [queries_at_budget(attacked, b) for b in generations]
    values = np.array([[best_confidence_at(t, q[i]) for i, t in enumerate(attacked["trajectory"])] for q in marks])
    falls = 100 * np.concatenate([values[0] - values[1], values[1] - values[2]])
    halves = np.repeat([0, 1], len(attacked))
    means = cell_means(falls, halves, np.tile(_clusters(attacked), 2), resamples=resamples, seed=seed)
    total = means.replicates.sum(axis=1)
    intervals = [_interval(means.replicates[:, h]) for h in (0, 1)]
    details = {"budget": budget, "generations": generations,
               "fall_per_half": [{"estimate": float(means.estimate[h]), "interval": intervals[h]} for h in (0, 1)],
               "margin": FITNESS_MARGIN_POINTS}
    defined = all(i is not None for i in intervals)
    holds = defined and all(i[0] > 0 for i in intervals)
    fails = defined and any(i[1] < FITNESS_MARGIN_POINTS for i in intervals)
    return _judged(key, holds=holds, fails=fails and not holds, estimate=float(means.estimate.sum()),
                   interval=_interval(total), unit=unit, n_min=int(means.counts.min()),
                   margin=FITNESS_MARGIN_POINTS, n_images=n_images,
                   image_set=_image_set(attacked, f"the images the attack had to change, budget {budget} "
                                                  f"{attacked['budget_field'].iloc[0]}"), details=details)


_JUDGES: dict[FindingKey, Judge] = {
    FindingKey.PIXELS: _judge_pixels,
    FindingKey.ITERATIONS: _judge_iterations,
    FindingKey.STEPS: _judge_steps,
    FindingKey.AUGMENTATION: _judge_augmentation,
    FindingKey.FITNESS: _judge_fitness,
}


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, tuples to lists, NaN to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
