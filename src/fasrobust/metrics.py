"""Presentation-attack-detection metrics: pure functions on scores and labels (a leaf any stage may use).

Conventions (bob's): scores are P(live), bona fide is the positive class, and a score *equal* to the
threshold is accepted as live. Rates are fractions in [0, 1]; only `recall_drop` is in percentage points,
as the paper's tables print it. A rate with an empty denominator is NaN.
- FAR = attacks accepted (score >= t) / attacks; FRR = bona fide rejected (score < t) / bona fide;
  HTER = (FAR + FRR) / 2, with the threshold chosen on a dev set (Idiap).
- ISO/IEC 30107-3: APCER per attack type, APCER = the worst type, BPCER = FRR, ACER = (APCER + BPCER) / 2.
- The paper's ACC, precision and recall use a fixed 0.5 threshold with *spoof* as the class recalled:
  a spoof is detected iff P(live) < 0.5.
`pad_report` (bottom) gathers all of them for a test set at frame and video level, each entry naming
its threshold and where that threshold came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

from .labels import BONA_FIDE, LIVE_THRESHOLD, Label

#: The paper's decision threshold on P(live) (the one rule of `labels.LIVE_THRESHOLD`).
FIXED_THRESHOLD = LIVE_THRESHOLD


def as_is_live(labels: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Boolean is-live array from booleans, `Label`s or label strings ('live', 'spoof', aliases)."""
    array = np.asarray(labels)
    if array.dtype == bool:
        return array
    return np.array([Label.parse(x) is Label.LIVE for x in array.tolist()], dtype=bool)


def _prepare(scores: Sequence[float] | np.ndarray, is_live: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    live = as_is_live(is_live).ravel()
    if scores.shape != live.shape:
        raise ValueError(f"{scores.size} scores but {live.size} labels")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinite values")
    return scores, live


def _rate(count: int | np.ndarray, total: int) -> float:
    return float(count) / total if total else float("nan")


# ----- bob: FAR, FRR, EER, HTER, AUC ------------------------------------------------------------------------
def far_frr(scores, is_live, threshold: float) -> tuple[float, float]:
    """(FAR, FRR) at `threshold`; a score equal to it is accepted as live."""
    scores, live = _prepare(scores, is_live)
    accepted = scores >= threshold
    return _rate(np.sum(accepted & ~live), int(np.sum(~live))), _rate(np.sum(~accepted & live), int(np.sum(live)))


def eer_threshold(scores, is_live) -> float:
    """The threshold minimising |FAR - FRR| over the midpoints of consecutive sorted unique scores (bob).

    Ties: when several midpoints reach the same |FAR - FRR|, the one with the lowest FAR + FRR wins, and
    among those the lowest threshold (the first met scanning upwards). With a single unique score the
    candidate is that score itself. Needs both classes."""
    scores, live = _prepare(scores, is_live)
    if live.all() or not live.any():
        raise ValueError("an EER threshold needs both live and spoof scores")
    unique = np.unique(scores)
    candidates = (unique[:-1] + unique[1:]) / 2 if unique.size > 1 else unique
    attacks, genuine = np.sort(scores[~live]), np.sort(scores[live])
    false_accepts = attacks.size - np.searchsorted(attacks, candidates, side="left")
    false_rejects = np.searchsorted(genuine, candidates, side="left")
    # FAR and FRR times (attacks x genuine), in integers, so that equal rates compare equal exactly.
    far, frr = false_accepts * genuine.size, false_rejects * attacks.size
    # lexsort keys are read last-first: |FAR - FRR|, then FAR + FRR, then the threshold itself.
    best = np.lexsort((candidates, far + frr, np.abs(far - frr)))[0]
    return float(candidates[best])


def eer(scores, is_live) -> float:
    """Equal error rate: (FAR + FRR) / 2 at `eer_threshold` (FAR and FRR are as close as the data allow)."""
    far, frr = far_frr(scores, is_live, eer_threshold(scores, is_live))
    return (far + frr) / 2


def hter(test_scores, test_is_live, threshold: float) -> float:
    """Half total error rate on a test set at a threshold chosen elsewhere (the EER threshold on dev)."""
    far, frr = far_frr(test_scores, test_is_live, threshold)
    return (far + frr) / 2


def roc_auc(scores, is_live) -> float:
    """Area under the ROC: P(a live score > a spoof score), ties counting one half (Mann-Whitney U)."""
    scores, live = _prepare(scores, is_live)
    n_live, n_spoof = int(live.sum()), int((~live).sum())
    if not n_live or not n_spoof:
        return float("nan")
    ranks = rankdata(scores)  # average ranks, so ties count one half
    return float((ranks[live].sum() - n_live * (n_live + 1) / 2) / (n_live * n_spoof))


# ----- the paper: fixed threshold, spoof is the class recalled ---------------------------------------------
def accuracy(scores, is_live, threshold: float = FIXED_THRESHOLD) -> float:
    scores, live = _prepare(scores, is_live)
    return _rate(np.sum((scores >= threshold) == live), scores.size)


def spoof_precision(scores, is_live, threshold: float = FIXED_THRESHOLD) -> float:
    """Spoofs among the images called spoof (P(live) < threshold)."""
    scores, live = _prepare(scores, is_live)
    called_spoof = scores < threshold
    return _rate(np.sum(called_spoof & ~live), int(called_spoof.sum()))


def spoof_recall(scores, is_live, threshold: float = FIXED_THRESHOLD) -> float:
    """Spoofs detected / spoofs. After an attack, pass every spoof's post-attack score (those the model
    already missed included), as the paper does."""
    scores, live = _prepare(scores, is_live)
    return _rate(np.sum((scores < threshold) & ~live), int((~live).sum()))


def recall_drop(before: float, after: float) -> float:
    """Recall before minus recall after, both fractions, in percentage points (1.00 -> 0.81 is 19.00)."""
    for name, value in (("before", before), ("after", after)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"recall {name} must be a fraction in [0, 1], got {value} (not a percentage)")
    return round(100.0 * (before - after), 10)  # rounding hides float noise (18.999999999999996)


# ----- ISO/IEC 30107-3 ---------------------------------------------------------------------------------------
def wilson_interval(successes: int, trials: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial rate (Wilson 1927): unlike the normal approximation it stays
    inside [0, 1] and keeps its coverage at the small counts and extreme rates attacks produce (0 of 20
    fooled gives [0, 0.16], not [0, 0]). (NaN, NaN) when there are no trials."""
    from scipy.stats import norm

    if trials <= 0:
        return float("nan"), float("nan")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must lie in [0, {trials}], got {successes}")
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def apcer_per_type(scores, attack_types, threshold: float) -> dict[str, float]:
    """{attack type: share of its presentations accepted as bona fide}; bona fide entries are skipped."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    types = np.asarray(attack_types, dtype=str).ravel()
    if scores.shape != types.shape:
        raise ValueError(f"{scores.size} scores but {types.size} attack types")
    return {str(kind): _rate(np.sum(scores[types == kind] >= threshold), int(np.sum(types == kind)))
            for kind in sorted(set(types.tolist()) - {BONA_FIDE})}


def apcer(scores, attack_types, threshold: float) -> float:
    """The worst attack type's APCER (NaN when there are no attacks)."""
    per_type = apcer_per_type(scores, attack_types, threshold)
    return max(per_type.values()) if per_type else float("nan")


def bpcer(scores, is_live, threshold: float) -> float:
    """Bona fide presentations rejected (score < threshold) / bona fide presentations."""
    return far_frr(scores, is_live, threshold)[1]


def acer(scores, is_live, attack_types, threshold: float) -> float:
    return (apcer(scores, attack_types, threshold) + bpcer(scores, is_live, threshold)) / 2


# ----- frames -> videos ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoreSet:
    """Scores of one split with what the metrics need about each: label, attack type, source (video)."""

    name: str
    scores: np.ndarray
    is_live: np.ndarray
    attack_types: np.ndarray
    sources: np.ndarray

    def __post_init__(self) -> None:
        scores, live = _prepare(self.scores, self.is_live)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "is_live", live)
        for key in ("attack_types", "sources"):
            value = np.asarray(getattr(self, key), dtype=str).ravel()
            if value.shape != scores.shape:
                raise ValueError(f"{scores.size} scores but {value.size} {key}")
            object.__setattr__(self, key, value)

    def __len__(self) -> int:
        return int(self.scores.size)

    def counts(self) -> dict[str, int]:
        return {Label.LIVE.value: int(self.is_live.sum()), Label.SPOOF.value: int((~self.is_live).sum())}


def video_scores(frames: ScoreSet) -> ScoreSet:
    """One row per source (video), sorted by source: the mean of its frame scores, with its label and
    attack type, which must be the same for every frame of a video."""
    ids, first, inverse, n_frames = np.unique(frames.sources, return_index=True, return_inverse=True,
                                              return_counts=True)
    means = np.bincount(inverse, weights=frames.scores) / n_frames
    live_frames = np.bincount(inverse, weights=frames.is_live.astype(float))
    mixed = (live_frames != 0) & (live_frames != n_frames)
    if mixed.any():
        raise ValueError(f"source {ids[mixed][0]!r} has both live and spoof frames")
    same_type = frames.attack_types == frames.attack_types[first][inverse]
    if not same_type.all():
        raise ValueError(f"source {frames.sources[~same_type][0]!r} has frames of several attack types")
    return ScoreSet(frames.name, means, frames.is_live[first], frames.attack_types[first], ids)


# ----- everything, with where each threshold came from ------------------------------------------------
def _entry(value: Any, threshold: float | None, source: str) -> dict[str, Any]:
    return {"value": value, "threshold": threshold, "source": source}


def _level(test: ScoreSet, chosen_on: ScoreSet, source: str) -> dict[str, dict[str, Any]]:
    fixed, fixed_source = FIXED_THRESHOLD, f"fixed {FIXED_THRESHOLD}"
    t = eer_threshold(chosen_on.scores, chosen_on.is_live)
    out = {
        "accuracy": _entry(accuracy(test.scores, test.is_live, fixed), fixed, fixed_source),
        "precision": _entry(spoof_precision(test.scores, test.is_live, fixed), fixed, fixed_source),
        "recall": _entry(spoof_recall(test.scores, test.is_live, fixed), fixed, fixed_source),
        "eer": _entry(eer(chosen_on.scores, chosen_on.is_live), t, source),
        "eer_test": _entry(eer(test.scores, test.is_live), eer_threshold(test.scores, test.is_live),
                           f"EER on {test.name}"),
        "auc": _entry(roc_auc(test.scores, test.is_live), None, "threshold-free"),
    }
    for suffix, threshold, where in (("eer", t, source), ("fixed", fixed, fixed_source)):
        far, frr = far_frr(test.scores, test.is_live, threshold)
        out[f"far_{suffix}"] = _entry(far, threshold, where)
        out[f"frr_{suffix}"] = _entry(frr, threshold, where)
        out[f"hter_{suffix}"] = _entry((far + frr) / 2, threshold, where)
        out[f"apcer_{suffix}"] = _entry(apcer(test.scores, test.attack_types, threshold), threshold, where)
        out[f"bpcer_{suffix}"] = _entry(frr, threshold, where)
        out[f"acer_{suffix}"] = _entry(acer(test.scores, test.is_live, test.attack_types, threshold),
                                       threshold, where)
        out[f"apcer_per_type_{suffix}"] = _entry(apcer_per_type(test.scores, test.attack_types, threshold),
                                                 threshold, where)
    return out


def pad_report(test: ScoreSet, dev: ScoreSet | None = None, *, fallback: ScoreSet | None = None) -> dict[str, Any]:
    """Every metric above on `test`, at frame level and video level (mean frame score per source).

    The EER threshold is chosen on `dev` ("EER on dev"). Without a dev set it is chosen on `fallback`
    (say the train split) and, failing that, on the test set itself ("EER on test (no dev split)"); both
    set `threshold_warning`, since error rates at a threshold tuned on seen data are optimistic.
    Each metric is {value, threshold, source}; NaN marks a rate with an empty denominator."""
    chosen_on = next(s for s in (dev, fallback, test) if s is not None)
    source = f"EER on {chosen_on.name}" + ("" if dev is not None else " (no dev split)")
    warning = None if dev is not None else (
        f"no dev split: the EER threshold was chosen on the {chosen_on.name} split, so rates at it are optimistic")
    levels = {"frame": (test, chosen_on), "video": (video_scores(test), video_scores(chosen_on))}
    return {
        "threshold_source": source,
        "threshold_warning": warning is not None,
        "warning": warning,
        "counts": {level: {"test": t.counts(), "threshold": d.counts()} for level, (t, d) in levels.items()},
        "metrics": {level: _level(t, d, source) for level, (t, d) in levels.items()},
    }
