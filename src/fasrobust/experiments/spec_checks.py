"""Checks of an experiment spec as a whole, after pydantic has checked each value: names that must
exist (databases, augmentation settings, the attack's own settings, the training settings) and
outputs that need an axis the studies vary. Each returns 'key: problem' for a one-line ConfigError."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..errors import ConfigError, FasrobustError
from ..settings import describe_validation_error
from .spec import (
    STANDARD_VARIANT,
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
    for check in (_check_databases, _check_targets, _check_studies, _check_stage_settings, _check_outputs):
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


def _check_targets(spec: ExperimentSpec) -> str | None:
    """Each external target: a unique name, one of the spec's databases, a contract that validates, a
    source that names a model (the file is looked at, not loaded)."""
    from ..targets import detect_adapter
    from ..targets.contract import Contract

    databases = {d.name for d in spec.databases}
    seen: set[str] = set()
    for i, entry in enumerate(spec.targets):
        key = f"targets.{i}"
        if entry.name in seen:
            return f"{key}.name: target name {entry.name!r} is used twice"
        seen.add(entry.name)
        if entry.database not in databases:
            return f"{key}.database: unknown database {entry.database!r} (this spec has: {', '.join(sorted(databases))})"
        try:
            Contract.build(entry.contract)
        except ConfigError as exc:
            return f"{key}.contract.{exc}"
        try:
            detect_adapter(entry.resolved_source(spec.data_root))
        except FasrobustError as exc:
            return f"{key}.source: {exc}"
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
        targets = {t.name for t in spec.targets}
        for name in study.targets or []:
            if name not in targets:
                return f"{key}.targets: unknown target {name!r} (this spec has: {', '.join(sorted(targets)) or 'none'})"
        try:
            grid = spec.study_grids()[study.name]
        except ValidationError as exc:
            return f"{key}.{describe_validation_error(exc)}"
        except ValueError as exc:
            return f"{key}.{exc}"
        where = key if study.augment is not None else "grid"
        for aug in grid.augment:
            if aug not in augmentations:
                return (f"{where}.augment: unknown augmentation setting {aug!r} "
                        f"(known: {', '.join(augmentations)})")
        attacked = set(study.databases or names)
        if not grid.augment and not [t for t in spec.targets if t.database in attacked
                                     and (study.targets is None or t.name in study.targets)]:
            return f"{key}.augment: the study trains no model and attacks no target (list an augmentation or a target)"
        try:
            spec.study_images(study)
        except ConfigError as exc:
            return f"{key}.images.{exc}"
        variants = {v.name for v in spec.variants} | {STANDARD_VARIANT}
        for name in grid.variant:
            if name not in variants:
                where = key if study.variant is not None else "grid"
                return (f"{where}.variant: unknown training variant {name!r} "
                        f"(this spec has: {', '.join(sorted(variants))})")
        for name in study.test_databases or []:
            if name not in names:
                return (f"{key}.test_databases: unknown database {name!r} "
                        f"(this spec has: {', '.join(sorted(names))})")
        where = f"{key}.attacks" if study.attacks is not None or study.attack_settings else "grid.attacks"
        problem = _check_attack_settings(grid, where)
        if problem:
            return problem
        problem = _check_defences(grid, f"{key}.defences" if study.defences is not None else "grid.defences")
        if problem:
            return problem
    return None


def _check_defences(grid: Grid, key: str) -> str | None:
    """Each defence stack parses (the defence names its own bad setting); an attacker-side eot ends one."""
    for j, stack in enumerate(grid.defences):
        if not stack:
            continue
        from ..defences import parse_stack

        try:
            parse_stack(stack)
        except ConfigError as exc:
            return f"{key}.{j}: {exc}"
    return None


def _check_attack_settings(grid: Grid, key: str) -> str | None:
    """Let each attack judge its own entry: its name, its settings' names, every combination's values."""
    from ..attacks import attack_class, attack_settings
    from ..errors import AttackError

    for j, entry in enumerate(grid.attacks):
        try:
            fields = attack_class(entry.name).Settings.model_fields
        except AttackError as exc:
            return f"{key}.{j}.name: {exc}"
        for axis in entry.axes():
            if axis not in fields:
                return (f"{key}.{j}.{axis}: attack {entry.name!r} has no setting {axis!r} "
                        f"(its settings: {', '.join(fields)})")
        for point in entry.points():
            try:
                attack_settings(entry.name, point)
            except AttackError as exc:
                return f"{key}.{j}: {exc}"
    return None


def _check_stage_settings(spec: ExperimentSpec) -> str | None:
    for key, data in (("model", spec.model), ("training", spec.training)):
        for axis in ("augment", "steps", "seed", "out"):
            if axis in data:
                return f"{key}.{axis}: set by the grid and the run, not here"
    try:
        train_settings(spec, augment=(spec.grid.augment or ["none"])[0], steps=1, seed=0)
    except ConfigError as exc:
        key = str(exc).split(":", 1)[0].split(".", 1)[0]
        return f"{'model' if key in spec.model else 'training'}.{exc}"
    seen: set[str] = {STANDARD_VARIANT}
    for i, variant in enumerate(spec.variants):
        if variant.name in seen:
            return f"variants.{i}.name: training variant {variant.name!r} is used twice (or is the reserved 'standard')"
        seen.add(variant.name)
        for axis in ("augment", "steps", "seed", "out"):
            if axis in variant.training:
                return f"variants.{i}.training.{axis}: set by the grid and the run, not here"
        try:
            train_settings(spec, augment=(spec.grid.augment or ["none"])[0], steps=1, seed=0, **variant.training)
        except ConfigError as exc:
            return f"variants.{i}.training.{exc}"
    return None


def _varies(grid: Grid, axis: str) -> bool:
    """Whether a study's grid lists two or more values of an axis: a training axis, or for 'size' and
    'budget' the field each attack declares as its perturbation size and its query budget."""
    from ..attacks import attack_class

    if axis in ("size", "budget"):
        for entry in grid.attacks:
            settings = attack_class(entry.name).Settings
            field = settings.size_field if axis == "size" else settings.budget_field
            if len(entry.axes().get(field, [])) > 1:
                return True
        return False
    return len(getattr(grid, axis)) > 1


def _check_outputs(spec: ExperimentSpec) -> str | None:
    grids = spec.study_grids().values()
    needs = {
        FigureName.PIXELS: ("size", "Fig. 3 needs a study attacking with at least two pixel counts"),
        FigureName.ITERATIONS: ("budget", "Fig. 4 needs a study listing at least two budgets of one attack"),
        TableName.TRAINING_STEPS: ("steps", "Tables 7-8 need a study training with at least two step counts"),
    }
    for i, wanted in enumerate([*spec.outputs.figures, *spec.outputs.tables]):
        if wanted in needs:
            axis, why = needs[wanted]
            if not any(_varies(g, axis) for g in grids):
                kind = "figures" if isinstance(wanted, FigureName) else "tables"
                index = i if kind == "figures" else i - len(spec.outputs.figures)
                return f"outputs.{kind}.{index}: {wanted.value!r}: {why} (no study varies it)"
    return None
