"""Checks of an experiment spec as a whole, after pydantic has checked each value: names that must
exist (databases, augmentation settings, the attack's own settings, the training settings) and
outputs that need an axis the studies vary. Each returns 'key: problem' for a one-line ConfigError."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..errors import ConfigError
from ..settings import describe_validation_error
from .spec import (
    ExperimentSpec,
    FigureName,
    Grid,
    TableName,
    augmentation_names,
    prepare_settings,
    train_settings,
)


def check_spec(spec: ExperimentSpec) -> str | None:
    """The first problem as 'key: problem', or None."""
    for check in (_check_databases, _check_studies, _check_stage_settings, _check_outputs):
        problem = check(spec)
        if problem:
            return problem
    return None


def _check_databases(spec: ExperimentSpec) -> str | None:
    from ..data.readers import available_readers

    known = [*available_readers(), "sample"]
    seen: set[str] = set()
    for i, db in enumerate(spec.databases):
        key = f"databases.{i}"
        if db.name in seen:
            return f"{key}.name: database name {db.name!r} is used twice"
        seen.add(db.name)
        if (db.prepare is None) == (db.faceset is None):
            return f"{key}: give either 'prepare' (settings to prepare it) or 'faceset' (a prepared FaceSet)"
        if db.prepare is not None:
            if "out" in db.prepare:
                return f"{key}.prepare.out: set by the run (the FaceSet goes into the run directory)"
            name = db.prepare.get("database", db.name)
            if name not in known:
                return f"{key}.prepare.database: unknown database {name!r} (known: {', '.join(known)})"
            try:
                prepare_settings(db, Path("."), None)
            except ConfigError as exc:
                return f"{key}.prepare.{exc}"
    return None


def _check_studies(spec: ExperimentSpec) -> str | None:
    names = {d.name for d in spec.databases}
    augmentations = augmentation_names()
    seen: set[str] = set()
    for i, study in enumerate(spec.studies):
        key = f"studies.{i}"
        if study.name in seen:
            return f"{key}.name: study name {study.name!r} is used twice"
        seen.add(study.name)
        for name in study.databases or []:
            if name not in names:
                return f"{key}.databases: unknown database {name!r} (this spec has: {', '.join(sorted(names))})"
        try:
            grid = study.resolve(spec.grid)
        except ValidationError as exc:
            return f"{key}.{describe_validation_error(exc)}"
        where = key if study.augment is not None else "grid"
        for aug in grid.augment:
            if aug not in augmentations:
                return (f"{where}.augment: unknown augmentation setting {aug!r} "
                        f"(known: {', '.join(augmentations)})")
        problem = _check_attack_settings(grid, key, spec.attack)
        if problem:
            return problem
    return None


def _check_attack_settings(grid: Grid, key: str, attack: str) -> str | None:
    """Let the attack itself judge every combination (a strategy it does not know, ...)."""
    from ..attacks import create_attack
    from ..errors import AttackError

    for axis in ("pixels", "population", "iterations", "f", "cr", "strategy"):
        for i, value in enumerate(getattr(grid, axis)):  # each value alone, the rest at the defaults
            try:
                create_attack(attack, **{axis: value})
            except (AttackError, ValueError) as exc:
                return f"{key}.{axis}.{i}: {exc}"
    return None


def _check_stage_settings(spec: ExperimentSpec) -> str | None:
    for key, data in (("model", spec.model), ("training", spec.training)):
        for axis in ("augment", "steps", "seed", "out"):
            if axis in data:
                return f"{key}.{axis}: set by the grid and the run, not here"
    try:
        train_settings(spec, augment=spec.grid.augment[0], steps=1, seed=0)
    except ConfigError as exc:
        key = str(exc).split(":", 1)[0].split(".", 1)[0]
        return f"{'model' if key in spec.model else 'training'}.{exc}"
    return None


def _check_outputs(spec: ExperimentSpec) -> str | None:
    grids = spec.study_grids().values()
    needs = {
        FigureName.PIXELS: ("pixels", "Fig. 3 needs a study attacking with at least two pixel counts"),
        FigureName.ITERATIONS: ("iterations", "Fig. 4 needs a study listing at least two iteration budgets"),
        TableName.TRAINING_STEPS: ("steps", "Tables 7-8 need a study training with at least two step counts"),
    }
    for i, wanted in enumerate([*spec.outputs.figures, *spec.outputs.tables]):
        if wanted in needs:
            axis, why = needs[wanted]
            if not any(len(getattr(g, axis)) > 1 for g in grids):
                kind = "figures" if isinstance(wanted, FigureName) else "tables"
                index = i if kind == "figures" else i - len(spec.outputs.figures)
                return f"outputs.{kind}.{index}: {wanted.value!r}: {why} (no study's '{axis}' has two values)"
    return None
