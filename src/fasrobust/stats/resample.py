"""The cluster bootstrap every interval in fasrobust comes from (a leaf: numpy only).

Frames of one video are not independent (same person, same attack instrument, same light), so a
resample draws whole *groups* (videos, `source`) with replacement, and every frame of a drawn video comes
along. PAD practice also keeps the class balance of the test protocol: with `strata` (the label, or the
attack type with bona fide as one type) the groups of each stratum are resampled separately, each
stratum keeping its number of groups, so a resample never lacks a class and an error rate per class is
always defined. A resample is a row of integer weights (how often each item was drawn), which lets the
PAD statistics in `weighted.py` evaluate 2000 resamples at once as matrix arithmetic.

Groups are numbered in order of first appearance, so with one item per group the draws are exactly those
of the ungrouped bootstrap at the same seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95
#: Resamples per block of the weight matrix: bounds memory at block x items integers.
_BLOCK = 250


def label_codes(labels: Sequence[Any] | np.ndarray | None, n: int, what: str) -> np.ndarray:
    """Integer codes in order of first appearance (0, 1, ...); each item its own code when None."""
    if labels is None:
        return np.arange(n)
    values = np.asarray(labels).ravel()
    if values.size != n:
        raise ValueError(f"{values.size} {what} for {n} items")
    _, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inverse.ravel()]


class ClusterResampler:
    """Draws cluster-bootstrap resamples of `n` items as weight rows (see the module docstring)."""

    def __init__(self, n: int, *, groups=None, strata=None, seed: int = 0):
        if n <= 0:
            raise ValueError("a bootstrap needs at least one item")
        self.n = n
        self.groups = label_codes(groups, n, "group labels")
        strata_codes = np.zeros(n, dtype=np.int64) if strata is None else label_codes(strata, n, "strata labels")
        n_groups = int(self.groups.max()) + 1
        group_stratum = np.full(n_groups, -1)
        group_stratum[self.groups] = strata_codes
        mixed = group_stratum[self.groups] != strata_codes
        if mixed.any():
            raise ValueError(f"group of item {int(np.flatnonzero(mixed)[0])} spans several strata")
        #: the group ids of each stratum, strata in order of first appearance
        self.strata_groups = [np.flatnonzero(group_stratum == s) for s in range(int(strata_codes.max()) + 1)]
        self.n_groups = n_groups
        self.seed = seed

    def blocks(self, resamples: int) -> Iterator[np.ndarray]:
        """(block, n) int32 weight matrices, `resamples` rows in all, the same for the same seed."""
        rng = np.random.default_rng(self.seed)
        done = 0
        while done < resamples:
            size = min(_BLOCK, resamples - done)
            offsets = (np.arange(size) * self.n_groups)[:, None]
            drawn = [members[rng.integers(0, members.size, (size, members.size))] + offsets
                     for members in self.strata_groups]
            flat = np.concatenate([d.ravel() for d in drawn])
            group_weights = np.bincount(flat, minlength=size * self.n_groups).reshape(size, self.n_groups)
            yield group_weights.astype(np.int32)[:, self.groups]
            done += size

    def weights(self, resamples: int) -> np.ndarray:
        return np.concatenate(list(self.blocks(resamples)))


def percentile_interval(values: np.ndarray, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """The percentile interval of bootstrap replicates; resamples on which the statistic is undefined
    (NaN) are left out, and (NaN, NaN) comes back when none is defined."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return float(lo), float(hi)


def bootstrap_replicates(weighted_statistic: Callable[[np.ndarray], np.ndarray], n: int, *, groups=None,
                         strata=None, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> np.ndarray:
    """The statistic on every resample: `weighted_statistic` maps a (block, n) weight matrix to one value
    per row (the vectorized path the PAD metrics use)."""
    sampler = ClusterResampler(n, groups=groups, strata=strata, seed=seed)
    return np.concatenate([np.asarray(weighted_statistic(w), dtype=float) for w in sampler.blocks(resamples)])


def bootstrap_interval(statistic: Callable[..., float], *arrays, groups=None, strata=None,
                       resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic(*arrays)`, resampling whole `groups` (say video ids)
    within `strata` (say the class) when given. `statistic` is called once per resample on the arrays
    indexed alike, so it may be any function; a NaN result marks a resample where it is undefined and is
    left out (pass `strata` so that it never is)."""
    arrays = tuple(np.asarray(a) for a in arrays)
    if not arrays:
        raise ValueError("bootstrap_interval needs at least one array")
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError("the arrays of a bootstrap must have one length")
    items = np.arange(n)

    def each(weights: np.ndarray) -> np.ndarray:
        out = np.empty(len(weights))
        for row, w in enumerate(weights):
            index = np.repeat(items, w)
            out[row] = statistic(*(a[index] for a in arrays))
        return out

    values = bootstrap_replicates(each, n, groups=groups, strata=strata, resamples=resamples, seed=seed)
    return percentile_interval(values, confidence)
