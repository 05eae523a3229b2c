"""The results reader (report stage, first step): the only code of the report that opens a run directory's
files (the store, plan.json, spec.yaml, the FaceSets' faceset.json, a model folder's model.json and
metrics.json). It hands out `Results`, tidy frames that every table, figure, finding and page reads and
nothing else, as RobustBench's leaderboard renders stored results without re-running anything.

    sources.py       reading the files
    model_rows.py    one row per system (a model on a test database behind a deployed stack), databases
    attack_rows.py   one row per attacked image, with its attack, system and the system's clean metrics
    plan_rows.py     the studies' points, the attack groups, and what is missing (a set difference)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .attack_rows import attack_columns, empty_attacks, queries_at_budget, tidy_attacks
from .model_rows import (
    METRIC_KEYS,
    NO_DEFENCE,
    NO_INTERVAL,
    UNKNOWN,
    DatabaseInfo,
    databases,
    describe_defences,
    metric_column_names,
    systems,
)
from .plan_rows import attack_groups, groups_of_jobs, missing_work, study_points
from .sources import RawRun, faceset_meta, read_run


@dataclass(frozen=True)
class SpecFacts:
    """What the views need of the spec: its name and words, and the values its grid asked for."""

    name: str = ""
    description: str = ""
    synthetic: bool = False
    grid: Mapping[str, Any] = field(default_factory=dict)
    databases: tuple[Mapping[str, Any], ...] = ()
    outputs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> SpecFacts:
        entries = tuple(d for d in spec.get("databases") or [] if isinstance(d, Mapping))
        return cls(str(spec.get("name") or ""), str(spec.get("description") or "").strip(),
                   bool(spec.get("synthetic")), dict(spec.get("grid") or {}), entries, dict(spec.get("outputs") or {}))

    def grid_values(self, axis: str) -> list[Any]:
        """The grid's values of a training axis (the main study's: Tables 3-6 use them)."""
        return list(self.grid.get(axis) or [])

    def grid_attack_values(self, attack: str, setting: str) -> list[Any]:
        """The grid's values of one attack's setting, over its grid entries."""
        values: list[Any] = []
        for entry in self.grid.get("attacks") or []:
            if isinstance(entry, Mapping) and entry.get("name") == attack:
                values += [v for v in entry.get(setting) or [] if v not in values]
        return values

    def steps_scale(self, database: str) -> float:
        for entry in self.databases:
            if entry.get("name") == database:
                return float(entry.get("steps_scale") or 1.0)
        return 1.0

    def database_names(self) -> set[str]:
        return {str(d.get("name")) for d in self.databases}


@dataclass(frozen=True)
class Results:
    run_dir: Path
    store_file: Path
    attacks: pd.DataFrame  # attack_rows.tidy_attacks
    systems: pd.DataFrame  # model_rows.systems
    databases: dict[str, DatabaseInfo]
    studies: pd.DataFrame  # plan_rows.study_points
    groups: pd.DataFrame  # plan_rows.attack_groups
    job_counts: dict[str, int]  # finished jobs by kind
    failures: pd.DataFrame  # job_id, time_utc, message
    missing: list[str]
    spec: SpecFacts = field(default_factory=SpecFacts)
    ensembles: list[dict[str, Any]] = field(default_factory=list)  # plan.json's worst-case ensembles

    @property
    def synthetic(self) -> bool:
        return self.spec.synthetic or any(d.synthetic for d in self.databases.values())

    @property
    def name(self) -> str:
        return self.spec.name or self.run_dir.name

    def grid_values(self, axis: str) -> list[Any]:
        return self.spec.grid_values(axis)

    def grid_attack_values(self, attack: str, setting: str) -> list[Any]:
        return self.spec.grid_attack_values(attack, setting)

    def faceset_meta(self, database: str) -> pd.DataFrame | None:
        """A database's FaceSet meta.csv, for the gallery's pictures (None when it is not on disk)."""
        info = self.databases.get(database)
        return faceset_meta(info.faceset if info is not None else None)

    def png(self, recorded: str) -> Path:
        """An adversarial PNG the store names, as a path to open."""
        return self.run_dir / recorded


def load_results(run_dir: str | Path) -> Results:
    raw = read_run(run_dir)
    known = databases(raw)
    systems_frame = systems(raw, known)
    groups = attack_groups(raw.plan)
    attacks = tidy_attacks(raw.attacks, raw.jobs, systems_frame, groups_of_jobs(groups)) if len(raw.attacks) \
        else empty_attacks()
    done = set(raw.jobs["job_id"])
    failed = {row.job_id: row.message for row in raw.failures.itertuples()}
    counts = raw.jobs["kind"].value_counts().to_dict() if len(raw.jobs) else {}
    return Results(raw.layout.root, raw.layout.store_file, attacks, systems_frame, known, study_points(raw.plan),
                   groups, {str(k): int(v) for k, v in counts.items()}, raw.failures,
                   missing_work(raw.plan, done, failed, groups, attacks), SpecFacts.of(raw.spec),
                   list(raw.plan.get("ensembles") or []))


__all__ = ["METRIC_KEYS", "NO_DEFENCE", "NO_INTERVAL", "UNKNOWN", "DatabaseInfo", "RawRun", "Results", "SpecFacts",
           "attack_columns", "describe_defences", "load_results", "metric_column_names", "queries_at_budget"]
