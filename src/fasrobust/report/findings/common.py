"""What every finding's test shares (report stage, findings): the rows it may use, per-image recall
changes, paired cluster-bootstrap trends, and the verdict arithmetic with its equivalence margin.

Every test is paired and clustered: the plan attacks the same FaceSet ids under every setting, so a
setting is compared with another on the same images, and a bootstrap resample draws whole source videos
(`fasrobust.stats.trend`). A recall change is per image: 100 x (caught before - caught after), whose mean
is the paper's recall drop in points. Verdicts use an equivalence margin, so that "does not hold" is a
finding (the effect is shown to be smaller than the margin) and not an absence of evidence; an interval
that straddles both no effect and the margin, or too few images, gives "cannot be judged" with the reason
and what would decide it. A finding whose axis the run never varied was not designed into the run: it is
marked so (`designed=False`) and the page gives it one line."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import Enum, StrEnum
from typing import Any

import numpy as np
import pandas as pd

from ...experiments.attack_stats import caught_before, fooled_within
from ...paper import paper_database
from ...stats.resample import percentile_interval
from ...stats.trend import cell_means, within_slope
from ..results import Results, queries_at_budget
from ..summary import reading_budget

#: The smallest recall-drop effect (points) a finding is about: a smaller change counts as none.
MARGIN_POINTS = 5.0
#: The same for the fall of the mean best spoof confidence (points of confidence, 0-100).
FITNESS_MARGIN_POINTS = 1.0
#: Fewer spoof images per setting than this cannot resolve a MARGIN_POINTS effect (the standard error of a
#: recall over n images is up to 50 / sqrt(n) points: 9 points at 30).
MIN_IMAGES = 30
#: The shipped spec that varies every axis the findings need, named where a run did not vary one.
STUDY_PRESET = "the `study` preset (fasrobust run --preset study) varies it"


class Verdict(StrEnum):
    HOLDS = "holds"
    DOES_NOT_HOLD = "does not hold"
    CANNOT_BE_JUDGED = "cannot be judged"


@dataclass(frozen=True)
class Claim:
    """A finding of the paper and the test that judges it."""

    key: str
    claim: str
    test: str


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
    designed: bool = True  # False: the run never varied the axis this finding is about

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = self.verdict.value
        out["interval"] = None if self.interval is None else [float(v) for v in self.interval]
        return plain(out)


def cannot(claim: Claim, reason: str, decide: str, *, unit: str = "", n_images: int = 0, image_set: str = "",
           estimate: float | None = None, interval=None, paper=None, details: dict | None = None,
           designed: bool = True) -> Finding:
    return Finding(claim.key, claim.claim, claim.test, Verdict.CANNOT_BE_JUDGED, estimate, interval, unit, n_images,
                   image_set, reason, decide, paper, details or {}, designed)


def not_designed(claim: Claim, reason: str, decide: str, **kwargs: Any) -> Finding:
    """The run never varied this finding's axis: one line on the page, naming what would vary it."""
    return cannot(claim, reason, f"{decide}; {STUDY_PRESET}", designed=False, **kwargs)


# ----- rows and per-image recall changes ---------------------------------------------------------------------
def eligible_rows(attacks: pd.DataFrame) -> pd.DataFrame:
    """Spoof rows of undefended targets attacked on one answer per query, each model on its own database."""
    if attacks.empty:
        return attacks
    mask = attacks["is_spoof"].astype(bool) & (attacks["defence"] == "none") & attacks["train_database"].isna()
    return attacks[mask & (attacks["eot_draws"] <= 1)]


def recall_changes(rows: pd.DataFrame, budget: int | None = None) -> np.ndarray:
    """Per row: 100 x (caught before - caught after) at `budget` of the row's attack (None: as stored)."""
    queries = queries_at_budget(rows, budget) if budget is not None else None
    after = ~fooled_within(rows, queries)
    return 100.0 * (caught_before(rows).astype(float) - after.astype(float))


def clusters(rows: pd.DataFrame) -> np.ndarray:
    return (rows["database"].astype(str) + "\x00" + rows["source"].astype(str)).to_numpy()


def context(rows: pd.DataFrame, columns: list[str]) -> pd.Series:
    present = [c for c in columns if c in rows.columns]
    if not present:
        return pd.Series("all", index=rows.index)
    return rows[present].astype(str).agg("|".join, axis=1)


def common_budget_changes(data: Results, rows: pd.DataFrame, contexts: pd.Series) -> np.ndarray:
    """Recall changes with every context read at one budget by the report's one budget policy
    (`summary.reading_budget`), so its settings compare at one budget."""
    out = np.empty(len(rows))
    for _, index in rows.groupby(contexts.to_numpy()).indices.items():
        part = rows.iloc[index]
        field_name = str(part["budget_field"].iloc[0])
        wanted = data.grid_attack_values(str(part["attack"].iloc[0]), field_name) if field_name else ()
        out[index] = recall_changes(part, reading_budget(part, wanted))
    return out


def image_set(rows: pd.DataFrame, what: str, settings: pd.Series | None = None) -> str:
    """Which images: how many, from how many videos, paired or not across `settings` (one label per
    row; None: the same rows read at several budgets, paired by construction), and the criterion."""
    from ..columns import criterion_text

    videos = rows["source"].nunique()
    pairing = "the same images under every setting (paired)"
    if settings is not None:
        images = rows["database"].astype(str) + ":" + rows["image_id"].astype(str)
        per_setting = [frozenset(v) for v in images.groupby(settings.to_numpy()).agg(set)]
        common = frozenset.intersection(*per_setting) if per_setting else frozenset()
        if len(set(per_setting)) > 1:
            pairing = (f"not the same images under every setting: {len(common)} are in all of them, the others "
                       "enter only the settings that attacked them")
    return (f"{rows['image_id'].nunique()} spoof images from {videos} videos, {pairing}; {what}; "
            f"{criterion_text(rows)}")


# ----- verdict arithmetic --------------------------------------------------------------------------------------
def interval_of(replicates: np.ndarray) -> tuple[float, float] | None:
    lo, hi = percentile_interval(replicates)
    return None if math.isnan(lo) else (lo, hi)


def too_few(n: int) -> str:
    return f"{n} spoof images per setting, fewer than the {MIN_IMAGES} a {MARGIN_POINTS:g}-point effect needs"


def needed(n: int, interval: tuple[float, float] | None, margin: float) -> int:
    """Images per setting for an interval about as wide as the margin (width shrinks as 1/sqrt(n))."""
    if interval is None or margin <= 0:
        return MIN_IMAGES * 4
    width = interval[1] - interval[0]
    return max(MIN_IMAGES, math.ceil(n * (width / margin) ** 2))


def wide(interval: tuple[float, float], unit: str, margin: float, n: int) -> str:
    lo, hi = interval
    return (f"{n} spoof images per setting: the interval [{lo:.2f}, {hi:.2f}] {unit} is {hi - lo:.2f} wide, "
            f"and holds both no effect and the {margin:.2f} {unit} margin")


def judged(claim: Claim, *, holds: bool, fails: bool, estimate: float, interval, unit: str, n_min: int,
           margin: float, n_images: int, image_set: str, paper=None, details=None) -> Finding:
    """The verdict from the interval: too few images first, then holds, does not hold, or too wide."""
    decide = f"attack >= {needed(n_min, interval, margin)} spoof images per setting"
    common = dict(unit=unit, n_images=n_images, image_set=image_set, estimate=estimate, interval=interval,
                  paper=paper, details=details)
    if interval is None:
        return cannot(claim, "the statistic is undefined on every resample", decide, **common)
    if n_min < MIN_IMAGES:
        width = interval[1] - interval[0]
        return cannot(claim, f"{too_few(n_min)}: the interval is {width:.2f} {unit} wide", decide, **common)
    verdict = Verdict.HOLDS if holds else Verdict.DOES_NOT_HOLD if fails else None
    if verdict is None:
        return cannot(claim, wide(interval, unit, margin, n_min), decide, **common)
    return Finding(claim.key, claim.claim, claim.test, verdict, estimate, interval, unit, n_images, image_set,
                   "", "", paper, details or {})


# ----- a trend over a setting ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trend:
    slope: float
    interval: tuple[float, float] | None
    span: float
    n_min: int
    per_setting: dict[str, float]


def trend(rows: pd.DataFrame, x: np.ndarray, contexts: pd.Series, changes: np.ndarray, resamples: int,
          seed: int) -> Trend | None:
    """Slope of the per-setting recall drop on x, within contexts that vary x; None when none does."""
    frame = pd.DataFrame({"context": contexts.to_numpy(), "x": x, "change": changes, "cluster": clusters(rows)})
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
    return Trend(slope, interval_of(replicates), float(frame["x"].max() - frame["x"].min()),
                 int(means.counts.min()), {f"{k:g}": float(v) for k, v in per_setting.items()})


def smallest_budget(rows: pd.DataFrame) -> int:
    """The smallest budget the rows' attack accepts (the DE's start population: 0 generations)."""
    from ...attacks import attack_class
    from ...errors import AttackError

    try:
        return int(attack_class(str(rows["attack"].iloc[0])).Settings.smallest_budget)
    except AttackError:  # an attack this fasrobust does not have
        return 1


def paper_key(data: Results, rows: pd.DataFrame) -> str | None:
    """The paper's database key when all rows are from one of its databases (never the synthetic sample)."""
    databases = set(rows["database"].astype(str))
    if len(databases) != 1 or data.synthetic:
        return None
    return paper_database(databases.pop())


def plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, tuples to lists, NaN to None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
