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
its threshold, where that threshold came from, and its 95 % interval (Wilson for counts over images, a
cluster bootstrap over videos, `fasrobust.stats`, for EER, AUC, HTER and ACER).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

from .labels import BONA_FIDE, LIVE_THRESHOLD, Label
from .stats import weighted
from .stats.resample import DEFAULT_RESAMPLES, ClusterResampler, percentile_interval

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
    """bob.measure's EER threshold (`bob.measure.eer_threshold`, 4.x-6.x), to the bit.

    bob scans the sorted scores upwards: the lowest score first, then the midpoint above each unique
    score, keeping the candidate with the smallest |FAR - FRR| and, on a tie, the later (higher) one; the
    scan stops when one class has no score left above the threshold, and the first candidate past that
    point replaces the best only if it is strictly better (live [0, 1], spoof [0.5] gives 0.25, not
    0.75). FAR and FRR are accumulated as bob does (1 - 1/n - 1/n ...), so on candidates that tie
    exactly on paper the float rounding decides as it does in bob. A single unique score is its own
    threshold. Needs both classes."""
    scores, live = _prepare(scores, is_live)
    if live.all() or not live.any():
        raise ValueError("an EER threshold needs both live and spoof scores")
    ordered = weighted.SortedScores(scores, live)
    live_weights, spoof_weights = ordered.class_weights(np.ones((1, scores.size), dtype=np.int32))
    accepted_spoof, rejected_live, in_scan = weighted.scan_counts(live_weights, spoof_weights)
    gap = weighted.bob_gap(accepted_spoof, rejected_live)
    chosen = weighted.eer_choice(gap, in_scan)[0]
    return float(weighted.candidate_thresholds(ordered.unique)[chosen])


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
    # At 0 (or all) successes the bound is exactly 0 (or 1); the subtraction leaves rounding noise.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return float(low), float(high)


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


# ----- everything, with where each threshold came from, and its interval ------------------------------
WILSON = "wilson"


def bootstrap_method(resamples: int) -> str:
    return f"bootstrap over videos, {resamples} resamples"


def _entry(value: Any, threshold: float | None, source: str, interval: Any, method: str) -> dict[str, Any]:
    return {"value": value, "threshold": threshold, "source": source, "interval": interval,
            "interval_method": method}


def _wilson(successes: int, trials: int) -> list[float]:
    return list(wilson_interval(int(successes), int(trials)))


def _worst_type_counts(test: ScoreSet, threshold: float) -> tuple[int, int]:
    """(accepted, presentations) of the attack type APCER reports: the worst one, the first in name
    order on a tie, so that the interval is the Wilson interval of exactly the rate shown."""
    per_type = apcer_per_type(test.scores, test.attack_types, threshold)
    if not per_type:
        return 0, 0
    worst = max(per_type, key=per_type.__getitem__)  # per_type is in name order; max keeps the first
    of_type = test.attack_types == worst
    return int(np.sum(test.scores[of_type] >= threshold)), int(of_type.sum())


def _bootstrap(scores: ScoreSet, statistics: dict[str, Any], resamples: int) -> dict[str, list[float]]:
    """Percentile intervals of weighted statistics (weights -> one value per resample), resampling the
    set's videos within each attack type (bona fide being one): every resample keeps the protocol's
    number of videos per type, so no error rate is ever undefined on it."""
    sampler = ClusterResampler(len(scores), groups=scores.sources, strata=scores.attack_types, seed=0)
    values: dict[str, list[np.ndarray]] = {key: [] for key in statistics}
    for block in sampler.blocks(resamples):
        for key, statistic in statistics.items():
            values[key].append(statistic(block))
    return {key: list(percentile_interval(np.concatenate(v))) for key, v in values.items()}


def _level(test: ScoreSet, chosen_on: ScoreSet, source: str, resamples: int) -> dict[str, dict[str, Any]]:
    fixed, fixed_source = FIXED_THRESHOLD, f"fixed {FIXED_THRESHOLD}"
    t = eer_threshold(chosen_on.scores, chosen_on.is_live)
    boot = bootstrap_method(resamples)
    scores, live, types = test.scores, test.is_live, test.attack_types
    kinds = sorted(set(types.tolist()) - {BONA_FIDE})
    test_sorted = weighted.SortedScores(scores, live)
    dev_sorted = weighted.SortedScores(chosen_on.scores, chosen_on.is_live)
    # The dev threshold is held fixed: only the test videos are resampled for HTER and ACER at it.
    test_intervals = _bootstrap(test, {
        "eer_test": lambda w: weighted.eer(test_sorted, w),
        "auc": lambda w: weighted.roc_auc(test_sorted, w),
        **{f"hter_{suffix}": (lambda w, th=th: weighted.hter(scores, live, th, w))
           for suffix, th in (("eer", t), ("fixed", fixed))},
        **{f"acer_{suffix}": (lambda w, th=th: weighted.acer(scores, live, types, kinds, th, w))
           for suffix, th in (("eer", t), ("fixed", fixed))},
    }, resamples)
    dev_interval = _bootstrap(chosen_on, {"eer": lambda w: weighted.eer(dev_sorted, w)}, resamples)["eer"]
    spoof, called_spoof = ~live, scores < fixed
    out = {
        "accuracy": _entry(accuracy(scores, live, fixed), fixed, fixed_source,
                           _wilson(np.sum(called_spoof != live), scores.size), WILSON),
        "precision": _entry(spoof_precision(scores, live, fixed), fixed, fixed_source,
                            _wilson(np.sum(called_spoof & spoof), called_spoof.sum()), WILSON),
        "recall": _entry(spoof_recall(scores, live, fixed), fixed, fixed_source,
                         _wilson(np.sum(called_spoof & spoof), spoof.sum()), WILSON),
        "eer": _entry(eer(chosen_on.scores, chosen_on.is_live), t, source, dev_interval, boot),
        "eer_test": _entry(eer(scores, live), eer_threshold(scores, live), f"EER on {test.name}",
                           test_intervals["eer_test"], boot),
        "auc": _entry(roc_auc(scores, live), None, "threshold-free", test_intervals["auc"], boot),
    }
    for suffix, threshold, where in (("eer", t, source), ("fixed", fixed, fixed_source)):
        far, frr = far_frr(scores, live, threshold)
        accepted = scores >= threshold
        far_ci = _wilson(np.sum(accepted & spoof), spoof.sum())
        frr_ci = _wilson(np.sum(~accepted & live), live.sum())
        per_type = apcer_per_type(scores, types, threshold)
        out[f"far_{suffix}"] = _entry(far, threshold, where, far_ci, WILSON)
        out[f"frr_{suffix}"] = _entry(frr, threshold, where, frr_ci, WILSON)
        out[f"hter_{suffix}"] = _entry((far + frr) / 2, threshold, where, test_intervals[f"hter_{suffix}"], boot)
        out[f"apcer_{suffix}"] = _entry(apcer(scores, types, threshold), threshold, where,
                                        _wilson(*_worst_type_counts(test, threshold)), WILSON)
        out[f"bpcer_{suffix}"] = _entry(frr, threshold, where, frr_ci, WILSON)
        out[f"acer_{suffix}"] = _entry(acer(scores, live, types, threshold), threshold, where,
                                       test_intervals[f"acer_{suffix}"], boot)
        out[f"apcer_per_type_{suffix}"] = _entry(
            per_type, threshold, where,
            {kind: _wilson(np.sum(accepted & (types == kind)), np.sum(types == kind)) for kind in per_type}, WILSON)
    return out


def pad_report(test: ScoreSet, dev: ScoreSet | None = None, *, fallback: ScoreSet | None = None,
               resamples: int = DEFAULT_RESAMPLES) -> dict[str, Any]:
    """Every metric above on `test`, at frame level and video level (mean frame score per source).

    The EER threshold is chosen on `dev` ("EER on dev"). Without a dev set it is chosen on `fallback`
    (say the train split) and, failing that, on the test set itself ("EER on test (no dev split)"); both
    set `threshold_warning`, since error rates at a threshold tuned on seen data are optimistic.
    Each metric is {value, threshold, source, interval, interval_method}; NaN marks a rate with an empty
    denominator. Intervals are 95 %, in the value's unit: Wilson ("wilson") for a rate that is a count
    over images (videos at video level): accuracy, precision, recall, FAR, FRR, BPCER, and APCER as the
    worst type's count, since APCER is the worst type's rate; a cluster bootstrap over videos
    (`bootstrap_method`) for EER (on the split it is taken on), AUC, HTER and ACER, the threshold held
    where it was chosen, so that only the test videos are resampled for a rate at the dev threshold."""
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
        "metrics": {level: _level(t, d, source, resamples) for level, (t, d) in levels.items()},
    }
