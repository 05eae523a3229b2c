"""The run directory's files, read once (report stage, results reader): the results store, plan.json,
spec.yaml, each prepared FaceSet's faceset.json, and, for a model folder that `fasrobust attack` wrote
into, its model.json and metrics.json. The only module of the report that opens them; the other modules
of `results/` turn what it read into tidy frames. A file that is missing or unreadable reads as empty (the
report says what it could not show); a missing store is the one-line error of a run that never started."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ...errors import DataError
from ...experiments.run_dir import RunDir
from ...experiments.store import ResultsStore


@dataclass(frozen=True)
class RawRun:
    layout: RunDir
    jobs: pd.DataFrame  # job_id, kind, settings (dict), result (dict), wall_s, ...
    attacks: pd.DataFrame  # the store's attack rows, JSON columns decoded
    failures: pd.DataFrame  # job_id, time_utc, message
    spec: dict[str, Any]
    plan: dict[str, Any]
    #: a model folder's model.json and metrics.json ({} for an experiment's run directory)
    model_info: dict[str, Any] = field(default_factory=dict)
    model_metrics: dict[str, Any] = field(default_factory=dict)


def read_run(run_dir: str | Path) -> RawRun:
    layout = RunDir(run_dir)
    if not layout.store_file.is_file():
        raise DataError(f"no {RunDir.STORE} here (run 'fasrobust run' or 'fasrobust attack' first)", layout.root)
    with ResultsStore(layout.store_file) as store:
        jobs, attacks, failures = store.jobs(), store.attacks(), store.failures()
    return RawRun(layout, jobs, attacks, failures, read_yaml(layout.spec_file), _read_plan(layout),
                  read_json(layout.root / "model.json"), read_json(layout.root / "metrics.json"))


def faceset_info(path: Path | None) -> dict[str, Any]:
    """A FaceSet's faceset.json ({} when it is not there)."""
    return read_json(path / "faceset.json") if path is not None else {}


def faceset_meta(path: Path | None) -> pd.DataFrame | None:
    """A FaceSet's meta.csv (None when it is not there)."""
    if path is None or not (path / "meta.csv").is_file():
        return None
    try:
        return pd.read_csv(path / "meta.csv")
    except (OSError, ValueError, pd.errors.ParserError):
        return None


def _read_plan(layout: RunDir) -> dict[str, Any]:
    try:
        return layout.read_plan()
    except DataError:  # an unreadable plan: the report shows what the store holds
        return {}


def read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        value = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return value if isinstance(value, dict) else {}
