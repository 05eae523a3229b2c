"""PAD statistics evaluated on many bootstrap resamples at once (a leaf: numpy only).

Each function takes the scores of one split and a (resamples, items) matrix of integer weights from
`resample.ClusterResampler` (row r: how often each item was drawn in resample r) and returns one value
per row. Nothing is re-sorted per resample: the items are sorted by score once, and every count below a
threshold is a cumulative sum of weights, so 2000 resamples of a 500-image test set take milliseconds.
The rules are those of `fasrobust.metrics` (bob's): scores are P(live), a score equal to the threshold
is accepted as live; EER follows bob.measure's threshold scan (see `eer_choice`) and its float
arithmetic (`bob_gap`), so a resample's EER is exactly `metrics.eer` of that resample.
"""

from __future__ import annotations

import numpy as np


def _per_row(counts: np.ndarray, totals: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, counts / np.where(totals > 0, totals, 1), np.nan)


def far_frr(scores: np.ndarray, is_live: np.ndarray, threshold: float, weights: np.ndarray):
    """(FAR, FRR) per resample at a fixed threshold."""
    accepted = scores >= threshold
    spoof = ~is_live
    far = _per_row(weights @ (accepted & spoof), weights @ spoof)
    frr = _per_row(weights @ (~accepted & is_live), weights @ is_live)
    return far, frr


def hter(scores, is_live, threshold: float, weights) -> np.ndarray:
    far, frr = far_frr(scores, is_live, threshold, weights)
    return (far + frr) / 2


def apcer(scores: np.ndarray, attack_types: np.ndarray, attack_kinds: list[str], threshold: float,
          weights: np.ndarray) -> np.ndarray:
    """The worst attack type's APCER per resample (types absent from a resample are skipped)."""
    accepted = scores >= threshold
    rates = [_per_row(weights @ (accepted & (attack_types == kind)), weights @ (attack_types == kind))
             for kind in attack_kinds]
    if not rates:
        return np.full(len(weights), np.nan)
    stacked = np.vstack(rates)
    with np.errstate(invalid="ignore"):
        worst = np.nanmax(np.where(np.isnan(stacked), -np.inf, stacked), axis=0)
    return np.where(np.isfinite(worst), worst, np.nan)


def acer(scores, is_live, attack_types, attack_kinds, threshold: float, weights) -> np.ndarray:
    return (apcer(scores, attack_types, attack_kinds, threshold, weights)
            + far_frr(scores, is_live, threshold, weights)[1]) / 2


class SortedScores:
    """Scores sorted once, with the live and spoof weight of each unique score per resample."""

    def __init__(self, scores: np.ndarray, is_live: np.ndarray):
        order = np.argsort(scores, kind="stable")
        self.order = order
        self.unique, starts = np.unique(scores[order], return_index=True)
        self.starts = starts
        self.live_sorted = is_live[order]

    def class_weights(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(live, spoof) weight of each unique score, shape (resamples, unique)."""
        w = weights[:, self.order].astype(np.int64)
        live = np.add.reduceat(w * self.live_sorted, self.starts, axis=1)
        spoof = np.add.reduceat(w * ~self.live_sorted, self.starts, axis=1)
        return live, spoof


def scan_counts(live: np.ndarray, spoof: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per EER candidate (see `eer_choice`): spoofs accepted, live rejected, and whether the scan meets it
    while both classes still have a score above it. Inputs are (resamples, unique) class weights."""
    n_live, n_spoof = live.sum(axis=1, keepdims=True), spoof.sum(axis=1, keepdims=True)
    rejected_live = np.concatenate([np.zeros_like(n_live), np.cumsum(live, axis=1)], axis=1)
    accepted_spoof = n_spoof - np.concatenate([np.zeros_like(n_spoof), np.cumsum(spoof, axis=1)], axis=1)
    in_scan = (accepted_spoof > 0) & (rejected_live < n_live)
    in_scan[:, 0] = True  # the lowest score starts the scan with both classes present
    return accepted_spoof, rejected_live, in_scan


def _accumulated(steps: np.ndarray, totals: np.ndarray, start: float, sign: float) -> np.ndarray:
    """`start` moved by `sign` / total, `steps` times, one float operation at a time (bob's
    `far -= far_decrease`), per row of `steps` with that row's total."""
    out = np.empty(steps.shape)
    for total in np.unique(totals):
        rows = totals == total
        sequence = np.cumsum(np.r_[start, np.full(int(total), sign / total)])  # cumsum adds in order
        out[rows] = sequence[steps[rows]]
    return out


def bob_gap(accepted_spoof: np.ndarray, rejected_live: np.ndarray) -> np.ndarray:
    """|FAR - FRR| per candidate with FAR and FRR accumulated as bob.measure does (1 - 1/n - 1/n ...):
    on candidates that tie on paper the rounding then decides as it does in bob."""
    n_spoof, n_live = accepted_spoof[:, 0], rejected_live[:, -1]
    far = _accumulated(n_spoof[:, None] - accepted_spoof, n_spoof, 1.0, -1.0)
    frr = _accumulated(rejected_live, n_live, 0.0, 1.0)
    return np.abs(far - frr)


def eer_choice(gap: np.ndarray, in_scan: np.ndarray) -> np.ndarray:
    """bob.measure's EER threshold scan: per row, the index of the chosen candidate.

    Candidates, in scan order: 0 is the lowest score (everything accepted), k + 1 the midpoint above
    unique score k. The scan minimises |FAR - FRR| (`gap`) over the candidates met while both classes
    still have a score above the threshold, a tie going to the later (higher) one; then it looks once at
    the first candidate past that point, which wins only if it is strictly better."""
    scanned = np.where(in_scan, gap, np.inf)
    best_gap = scanned.min(axis=1)
    last = in_scan.shape[1] - 1 - np.argmax((scanned == best_gap[:, None])[:, ::-1], axis=1)
    past = np.argmin(in_scan, axis=1)  # the first candidate out of the scan (0: none is out)
    rows = np.arange(len(gap))
    better = (past > 0) & (gap[rows, past] < best_gap)
    return np.where(better, past, last)


def candidate_thresholds(unique: np.ndarray) -> np.ndarray:
    """The threshold of each `eer_choice` candidate: the lowest score, then the midpoints above each
    unique score (above the highest: the highest itself, as bob leaves it)."""
    above = np.append((unique[:-1] + unique[1:]) / 2, unique[-1])
    return np.concatenate([unique[:1], above])


def eer(sorted_scores: SortedScores, weights: np.ndarray) -> np.ndarray:
    """(FAR + FRR) / 2 at bob's EER threshold, per resample."""
    live, spoof = sorted_scores.class_weights(weights)
    accepted_spoof, rejected_live, in_scan = scan_counts(live, spoof)
    chosen = eer_choice(bob_gap(accepted_spoof, rejected_live), in_scan)
    rows = np.arange(len(chosen))
    false_accepts, false_rejects = accepted_spoof[rows, chosen], rejected_live[rows, chosen]
    return (_per_row(false_accepts, spoof.sum(axis=1)) + _per_row(false_rejects, live.sum(axis=1))) / 2


def roc_auc(sorted_scores: SortedScores, weights: np.ndarray) -> np.ndarray:
    """P(a live score > a spoof score), ties counting one half, per resample."""
    live, spoof = sorted_scores.class_weights(weights)
    spoof_below = np.cumsum(spoof, axis=1) - spoof
    wins = (live * (spoof_below + spoof / 2)).sum(axis=1)
    return _per_row(wins, live.sum(axis=1) * spoof.sum(axis=1))
