"""Evaluation of a trained checkpoint on a FaceSet: score the threshold split (dev) and the test split,
compute every PAD metric (`fasrobust.metrics.pad_report`) at frame and video level, and write
metrics.json next to the model.

Sits after training: run_dir (model.safetensors + model.json) + FaceSet -> metrics.json -> report.
Scoring goes through `TorchTarget.from_checkpoint`, the same path the attacks query, so "before attack"
numbers and attack confidences come from one implementation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..data.faceset import FaceSet
from ..errors import DataError
from ..labels import Label
from ..metrics import ScoreSet, pad_report
from ..progress import console, progress_bar
from ..provenance import environment, write_json_atomic
from ..targets.base import Target
from ..targets.torch_target import TorchTarget

METRICS_FILE = "metrics.json"
DEFAULT_DEV_SPLIT = "dev"
FORMAT = "fasrobust-metrics"
FORMAT_VERSION = 1
#: Images per progress update; the target splits each into its own device-sized chunks.
_PROGRESS_CHUNK = 2048


def evaluate(run_dir: str | Path, faceset: FaceSet | str | Path, *, dev_split: str | None = None,
             test_split: str = "test", out: str | Path | None = None, device: str = "auto",
             threshold_faceset: FaceSet | str | Path | None = None,
             wrap: Callable[[Target], Target] | None = None) -> dict[str, Any]:
    """Score `dev_split` and `test_split` of the FaceSet with the run's model and write metrics.json into
    the run directory (or `out`: a directory, or a path ending in .json). Returns what it wrote.

    `dev_split` None means "dev": without a dev split the EER threshold is then chosen on the train split,
    and the report says so with a warning flag; it is never silently chosen on the test split. A split
    named explicitly must exist (a typo must not move the threshold to another split).

    Cross-database evaluation: `threshold_faceset` (the training database's FaceSet) gives the split the
    EER threshold is chosen on, `faceset` the test split. `wrap` puts the model behind something before it
    is scored (a defence stack: `defences.defend`), so clean metrics are those of the deployed pipeline."""
    run_dir = Path(run_dir)
    faceset = faceset if isinstance(faceset, FaceSet) else FaceSet.load(faceset)
    chosen_from = faceset if threshold_faceset is None else (
        threshold_faceset if isinstance(threshold_faceset, FaceSet) else FaceSet.load(threshold_faceset))
    where = faceset.root or "FaceSet"
    target = TorchTarget.from_checkpoint(run_dir, device=device)
    if wrap is not None:
        target = wrap(target)
    if target.input_size is not None and faceset.image_size != target.input_size:
        raise DataError(f"crops are {faceset.image_size}x{faceset.image_size} but the model in {run_dir} "
                        f"expects {target.input_size}x{target.input_size}; prepare the FaceSet at that size", where)
    for role, split, source in (("dev", dev_split, chosen_from), ("test", test_split, faceset)):
        splits = set(source.meta["split"].astype(str))
        if split is not None and split not in splits:
            raise DataError(f"{role} split '{split}' was asked for, but the FaceSet has no such split (splits: "
                            f"{', '.join(sorted(splits))})", source.root or "FaceSet")
    present = set(chosen_from.meta["split"].astype(str))
    dev_split = dev_split or DEFAULT_DEV_SPLIT
    threshold_split = dev_split if dev_split in present else ("train" if "train" in present else None)
    if threshold_split != dev_split:
        console.print(f"[yellow]warning:[/] {where} has no '{dev_split}' split; the EER threshold is chosen "
                      f"on {threshold_split or test_split}, and metrics.json says so")
    started = time.perf_counter()
    test = _score_split(target, faceset, test_split)
    chosen = _score_split(target, chosen_from, threshold_split) if threshold_split else None
    wall = time.perf_counter() - started
    if threshold_split == dev_split:
        report = pad_report(test, dev=chosen)
    else:
        report = pad_report(test, fallback=chosen)
    scored = len(test) + (len(chosen) if chosen is not None else 0)
    record = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "run_dir": str(run_dir),
        "model": _model_record(run_dir),
        "faceset": {"root": str(faceset.root) if faceset.root else None, "image_size": faceset.image_size,
                    "test_split": test_split, "threshold_split": threshold_split or test_split,
                    "threshold_faceset": str(chosen_from.root) if chosen_from is not faceset else None},
        **report,
        "scoring": {"target": target.describe(), "images": scored, "wall_s": round(wall, 3),
                    "images_per_s": round(scored / wall, 1) if wall > 0 else None},
        "environment": environment(),
    }
    record = _json_safe(record)
    write_json_atomic(metrics_path(run_dir, out), record)
    return record


def metrics_path(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Where `evaluate` writes: run_dir/metrics.json, or `out` (a directory, or a file ending in .json)."""
    if out is None:
        run_dir = Path(run_dir)
        return (run_dir if run_dir.is_dir() else run_dir.parent) / METRICS_FILE
    out = Path(out)
    return out if out.suffix == ".json" else out / METRICS_FILE


def _score_split(target: Target, faceset: FaceSet, split: str) -> ScoreSet:
    part = faceset.split(split)  # a one-line DataError when the split is absent
    counts = {label: int((part.meta["label"] == label.value).sum()) for label in Label}
    missing = [label.value for label, n in counts.items() if n == 0]
    if missing:
        raise DataError(f"split '{split}' has no {missing[0]} images ({counts[Label.LIVE]} live, "
                        f"{counts[Label.SPOOF]} spoof); metrics need both classes", faceset.root)
    scores = np.empty(len(part), dtype=np.float64)
    with progress_bar() as bar:
        task = bar.add_task(f"scoring {split}", total=len(part), info="")
        for start in range(0, len(part), _PROGRESS_CHUNK):
            stop = min(start + _PROGRESS_CHUNK, len(part))
            scores[start:stop] = target(part.images[start:stop])
            bar.update(task, completed=stop)
    return ScoreSet(split, scores, part.is_live, part.meta["attack_type"].to_numpy(),
                    part.meta["source"].to_numpy())


def _model_record(run_dir: Path) -> dict[str, Any]:
    """What identifies the model evaluated (from model.json)."""
    from ..models.checkpoint import read_info

    info = read_info(run_dir)
    keys = ("model", "model_kwargs", "input_size", "preprocessing", "output", "freeze", "imagenet_weights",
            "augment", "steps", "seed")
    return {**{k: info[k] for k in keys if k in info}, "weights_sha256": info.get("weights", {}).get("sha256")}


def _json_safe(value: Any) -> Any:
    """NaN (an undefined rate) becomes null, so metrics.json is strict JSON any tool can read."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value
