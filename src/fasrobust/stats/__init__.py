"""Uncertainty for every number fasrobust reports: the cluster bootstrap over videos (`resample`), PAD
statistics on many resamples at once (`weighted`), and paired trend tests for the paper's findings
(`trend`). A leaf: numpy only, open to every stage."""

from .resample import (
                       DEFAULT_CONFIDENCE,
                       DEFAULT_RESAMPLES,
                       ClusterResampler,
                       bootstrap_interval,
                       bootstrap_replicates,
                       percentile_interval,
)

__all__ = ["DEFAULT_CONFIDENCE", "DEFAULT_RESAMPLES", "ClusterResampler", "bootstrap_interval",
           "bootstrap_replicates", "percentile_interval"]
