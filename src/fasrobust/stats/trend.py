"""Paired cluster-bootstrap estimates over the settings of a study (a leaf: numpy only): the engine of
the report's findings (`report/findings.py`).

Input is long format: one value per (image, setting) (say the recall change of image i under 3 pixels),
with the cell (setting, within its context: the model and attack configuration held fixed) and the
cluster (the image's source video). A resample draws whole clusters with replacement and gives each of
their rows the same weight in every cell, so the images stay paired across settings (the plan attacks
the same FaceSet ids for every model) and the frames of one video move together. Per-cell means follow
for every resample at once; a trend is the least-squares slope of the cell means on the setting with a
separate intercept per context; a contrast is a difference of cell means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .resample import DEFAULT_RESAMPLES, ClusterResampler, label_codes


@dataclass(frozen=True)
class CellMeans:
    """The mean value of each cell on the data (`estimate`, (cells,)) and on every resample
    (`replicates`, (resamples, cells)); `counts`: rows per cell."""

    estimate: np.ndarray
    replicates: np.ndarray
    counts: np.ndarray


def cell_means(values, cells, clusters, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> CellMeans:
    """Means of `values` per cell (integer codes 0..C-1), with replicates that resample `clusters`."""
    values = np.asarray(values, dtype=float).ravel()
    cells = np.asarray(cells, dtype=np.int64).ravel()
    cluster_codes = label_codes(clusters, values.size, "cluster labels")
    n_cells = int(cells.max()) + 1
    onehot = np.zeros((values.size, n_cells))
    onehot[np.arange(values.size), cells] = 1.0
    counts = onehot.sum(axis=0)
    estimate = (values @ onehot) / counts
    sampler = ClusterResampler(int(cluster_codes.max()) + 1, seed=seed)
    blocks = []
    for weights in sampler.blocks(resamples):
        rows = weights[:, cluster_codes].astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            blocks.append((rows @ (onehot * values[:, None])) / (rows @ onehot))
    return CellMeans(estimate, np.concatenate(blocks), counts)


def within_slope(means: np.ndarray, x: np.ndarray, contexts: np.ndarray) -> np.ndarray:
    """Least-squares slope of cell means on x, one intercept per context (x and the means centred
    within each context). `means` is (cells,) or (resamples, cells); NaN where undefined."""
    means = np.atleast_2d(np.asarray(means, dtype=float))
    x = np.asarray(x, dtype=float)
    contexts = np.asarray(contexts, dtype=np.int64)
    onehot = np.zeros((x.size, int(contexts.max()) + 1))
    onehot[np.arange(x.size), contexts] = 1.0
    per_context = onehot.sum(axis=0)
    x_centred = x - (x @ onehot / per_context)[contexts]
    y_centred = means - ((means @ onehot) / per_context)[:, contexts]
    spread = float(x_centred @ x_centred)
    if spread == 0:
        return np.full(len(means), np.nan)
    return (y_centred @ x_centred) / spread
