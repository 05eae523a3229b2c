"""Balanced sets: per split, as many live as spoof crops, optionally capped per split and class
(Table 1 of the paper), from subject-disjoint splits, deterministic under a seed.

Sits after cropping, before the FaceSet is written. When a class has more crops than kept, the
kept ones are spread over subjects and recordings: round-robin, every subject's recordings give
their first (randomly chosen) crop before any gives a second, so a few long videos cannot fill a
class. The order is drawn from `seed` and the split/class names only, so the same inputs give the
same set whatever order the worker processes finished in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import DataError
from ..labels import Label

Caps = Mapping[str, Mapping[str, int]]


def check_subject_disjoint(meta: pd.DataFrame) -> None:
    """DataError naming the first subject found in two splits (a model would be tested on people
    it was trained on)."""
    splits_of = meta.groupby(meta["subject"].astype(str))["split"].unique()
    for subject, splits in splits_of.items():
        if len(splits) > 1:
            names = " and ".join(sorted(str(s) for s in splits))
            shared = int(sum(len(s) > 1 for s in splits_of))
            raise DataError(f"subject '{subject}' appears in splits {names} ({shared} subject(s) shared): "
                            "splits must be subject-disjoint")


def balance(meta: pd.DataFrame, *, seed: int, equalise: bool = True, caps: Caps | None = None,
            allow_missing_class: bool = False) -> tuple[np.ndarray, list[str]]:
    """Row positions of `meta` to keep (sorted), and warnings.

    Per split: with `equalise`, each class keeps min(#live, #spoof) rows; a cap for (split, class)
    lowers that further. A split with rows of one class only is a DataError naming it, or, with
    `allow_missing_class`, a warning and the split kept unbalanced.
    """
    caps = caps or {}
    keep: list[np.ndarray] = []
    warnings: list[str] = []
    for split in sorted(meta["split"].astype(str).unique()):
        in_split = meta["split"].astype(str) == split
        by_class = {label: np.flatnonzero(in_split & (meta["label"] == label.value)) for label in Label}
        missing = [label.value for label, rows in by_class.items() if len(rows) == 0]
        if missing:
            have = ", ".join(f"{k.value}: {len(v)}" for k, v in by_class.items())
            message = f"split '{split}' has no {' and no '.join(missing)} samples ({have})"
            if not allow_missing_class:
                raise DataError(message + "; check the database or allow it with allow_missing_class")
            warnings.append(message + "; kept unbalanced")
        target = min(len(v) for v in by_class.values()) if equalise and not missing else None
        for label, rows in by_class.items():
            n = len(rows) if target is None else target
            cap = caps.get(split, {}).get(label.value)
            if cap is not None:
                if n < cap:
                    warnings.append(f"split '{split}' {label.value}: {n} crops available, fewer than the cap {cap}")
                n = min(n, int(cap))
            keep.append(_spread(meta.iloc[rows], rows, n, seed, f"{split}/{label.value}"))
    return np.sort(np.concatenate(keep)) if keep else np.empty(0, dtype=int), warnings


def _spread(rows_meta: pd.DataFrame, rows: np.ndarray, n: int, seed: int, salt: str) -> np.ndarray:
    """Choose n of `rows`, round-robin over subjects, then over each subject's recordings."""
    if n >= len(rows):
        return rows
    rng = np.random.default_rng([seed, int(hashlib.sha256(salt.encode()).hexdigest()[:8], 16)])
    frame = pd.DataFrame({"row": rows, "subject": rows_meta["subject"].astype(str).to_numpy(),
                          "source": rows_meta["source"].astype(str).to_numpy(),
                          "frame": rows_meta["frame"].to_numpy()})
    # Canonical order first: results must not depend on the order crops arrived in.
    frame = frame.sort_values(["subject", "source", "frame"], kind="stable").reset_index(drop=True)
    frame["noise"] = rng.random(len(frame))
    frame["rank_in_source"] = frame.groupby("source")["noise"].rank(method="first")
    sources = frame.drop_duplicates("source")[["subject", "source"]].copy()
    sources["rank_in_subject"] = rng.permutation(len(sources))
    sources["rank_in_subject"] = sources.groupby("subject")["rank_in_subject"].rank(method="first")
    subject_order = {s: i for i, s in enumerate(rng.permutation(sorted(frame["subject"].unique())))}
    frame = frame.merge(sources[["source", "rank_in_subject"]], on="source")
    frame["subject_order"] = frame["subject"].map(subject_order)
    frame = frame.sort_values(["rank_in_source", "rank_in_subject", "subject_order"], kind="stable")
    return np.sort(frame["row"].to_numpy()[:n])
