"""The plan: an ExperimentSpec expanded into jobs with deterministic ids and dependencies.

    prepare (one per database) -> train (one per training setting) -> evaluate (one per model)
                                                                   -> attack shards (per attack setting)

A model is trained once per (database, augmentation, steps, seed) and reused by every study and
every attack setting that names it. Attack settings that differ only in their budget (the setting the
attack declares as its `budget_field`: the DE's iterations, Sparse-RS's queries) are merged into one
attack at the largest budget: attacks are prefix-consistent per image seed, so the stored queries and
trajectories give the result at every smaller budget (Fig. 4 costs no extra attack; `plan.json`
records which budgets each merged attack serves).

Attack shards need the FaceSet's image ids, so they are planned by `shard_jobs` once the database is
prepared (the runner then records each group's image ids and shard jobs in plan.json, so what is missing
is a set difference). A job's `settings` define its id (and are stored); its `inputs` are where the
worker finds things in the run directory (paths relative to it), which do not change what the job
computes. An attack whose `eot` is unset gets it chosen for the stack it attacks: averaged answers behind a
defence that declares itself randomized, one answer otherwise (`attacks/eot.py`)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..attacks import AttackSpec, attack_class
from ..data.faceset import FaceSet
from ..errors import ConfigError
from .attack_job import plan_attack_jobs, select_image_ids
from .run_dir import RunDir
from .spec import STANDARD_VARIANT, ExperimentSpec, Grid, ImageSelection, prepare_settings, train_settings
from .store import job_id

#: TrainSettings that do not change the weights a run produces (they may differ on a resume).
_NOT_IDENTITY = ("device", "threads", "eval_every", "checkpoint_every")
#: Training settings added after runs were named: part of a model's identity only when set, so the models
#: of earlier runs keep their ids (and a re-run resumes them).
_LATER_SETTINGS = {"input_transform": []}


class JobKind(StrEnum):
    PREPARE = "prepare"
    TRAIN = "train"
    EVALUATE = "evaluate"
    ATTACK = "attack"


@dataclass(frozen=True)
class Job:
    id: str
    kind: JobKind
    settings: dict[str, Any]  # what defines the job: hashed into its id, stored with its result
    inputs: dict[str, Any]  # where the worker finds its inputs (relative to the run directory)
    needs: tuple[str, ...] = ()
    label: str = ""


@dataclass(frozen=True)
class ModelRef:
    """What an attack group attacks: a model the plan trains (its train job) or an external target of
    the spec. `identity` goes into every shard's settings (what the report groups by); `target` is how
    a worker opens it (`jobs._open_target`); `needs` are the jobs it waits for."""

    key: str  # the train job id, or the external target's id (file hash + contract digest)
    database: str
    identity: dict[str, Any]
    target: dict[str, Any]  # {"id", "source" (relative to the run directory for trained models), "contract"?}
    needs: tuple[str, ...]
    label: str  # for job labels: "none 200 steps", "vendor-onnx (external)"


@dataclass(frozen=True)
class AttackGroup:
    """One attack setting on one model behind one stack: becomes shard jobs once the FaceSet exists."""

    key: str
    database: str
    prepare_job: str
    model: ModelRef
    attack: AttackSpec  # at the largest budget the studies asked for
    seed: int
    defences: tuple[dict[str, Any], ...]  # the deployed stack ([] undefended)
    inputs: dict[str, Any]
    budgets: tuple[int, ...]  # every budget the studies asked for, in the attack's budget field's unit
    studies: tuple[str, ...]
    budget_field: str = ""  # the attack's setting that the budgets are values of
    selection: ImageSelection | None = None  # the study's own image selection (None: the spec's)

    @property
    def train_job(self) -> str | None:
        return self.model.identity.get("train_job")

    def describe(self) -> dict[str, Any]:
        """The group as plan.json keeps it (the runner adds its image ids and shard jobs)."""
        return {"key": self.key, "database": self.database, "system": self.model.identity,
                "target": self.model.target["id"], "attack": self.attack.as_json(), "seed": self.seed,
                **_stack_key(list(self.defences)), "budget_field": self.budget_field, "budgets": list(self.budgets),
                "studies": list(self.studies),
                **({"images": self.selection.model_dump(mode="json")} if self.selection else {})}


@dataclass
class Plan:
    spec: ExperimentSpec
    jobs: dict[str, Job]  # prepare, train and evaluate jobs, in a valid order
    groups: list[AttackGroup]
    studies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # for plan.json

    def describe(self) -> dict[str, Any]:
        """What `plan.json` holds: every job before sharding, every attack group and which study
        point each serves (the report maps a table cell or a curve point to stored rows with it)."""
        return {
            "spec": self.spec.name,
            "jobs": [{"id": j.id, "kind": j.kind.value, "label": j.label, "needs": list(j.needs),
                      "settings": j.settings, "inputs": j.inputs} for j in self.jobs.values()],
            "attack_groups": [g.describe() for g in self.groups],
            "studies": self.studies,
        }


def make_plan(spec: ExperimentSpec) -> Plan:
    jobs: dict[str, Job] = {}
    groups: dict[str, dict[str, Any]] = {}
    studies: dict[str, list[dict[str, Any]]] = {}
    prepare_jobs = {db.name: _prepare_job(spec, db.name) for db in spec.databases}
    jobs.update({j.id: j for j in prepare_jobs.values()})
    for study_name, grid in spec.study_grids().items():
        points = studies.setdefault(study_name, [])
        study = next(s for s in spec.studies if s.name == study_name)
        stacks = [_stack(s) for s in grid.defences]
        selection = spec.study_images(study)
        own = None if selection == spec.images else selection
        for database in study.databases or [d.name for d in spec.databases]:
            prepare = prepare_jobs[database]
            for augment, steps, seed, variant in itertools.product(grid.augment, grid.steps, grid.train_seed,
                                                                   grid.variant):
                train = _train_job(spec, prepare, database, augment, steps, seed, variant)
                jobs.setdefault(train.id, train)
                for test_db in study.test_databases or [database]:
                    model = _trained(train, prepare_jobs[test_db])
                    for stack in stacks:
                        evaluate = _evaluate_job(spec, train, prepare_jobs[test_db], stack)
                        jobs.setdefault(evaluate.id, evaluate)
                        for attack, attack_seed in _attack_points(grid, stack):
                            group = _group_entry(groups, prepare_jobs[test_db], model, attack, attack_seed,
                                                 study_name, stack, own)
                            points.append({"system": model.identity, "evaluate_job": evaluate.id,
                                           **_stack_key(stack), "attack": attack.as_json(), "seed": attack_seed,
                                           "group": group["key"]})
            for external in _external_targets(spec, study.targets, database, prepare):
                for stack in stacks:
                    for attack, attack_seed in _attack_points(grid, stack):
                        group = _group_entry(groups, prepare, external, attack, attack_seed, study_name, stack,
                                             own)
                        points.append({"system": external.identity, "target_id": external.key,
                                       **_stack_key(stack), "attack": attack.as_json(), "seed": attack_seed,
                                       "group": group["key"]})
    merged = [_finish_group(g) for g in groups.values()]
    return Plan(spec, _ordered(jobs), merged, studies)


def _prepare_job(spec: ExperimentSpec, database: str) -> Job:
    db = spec.database(database)
    faceset_dir = db.faceset and str(Path(db.faceset).expanduser().resolve())
    if db.prepare is not None:
        root = db.prepare.get("root")
        if root is not None and not Path(root).expanduser().is_absolute() and spec.data_root is None:
            index = spec.databases.index(db)
            raise ConfigError(f"databases.{index}.prepare.root: '{root}' is relative: give the folder that holds "
                              "it with --data-root DIR (or data_root in the spec)")
        faceset_dir = RunDir.faceset_dir(db.name)
        ps = prepare_settings(db, Path(faceset_dir), spec.data_root)
        # `out` and `workers` say where and how fast, not what: they stay out of the id.
        settings = {"database": db.name, "prepare": ps.model_dump(mode="json", exclude={"out", "workers"})}
    else:
        settings = {"database": db.name, "faceset": faceset_dir}
    return Job(job_id(JobKind.PREPARE, settings), JobKind.PREPARE, settings, {"faceset": faceset_dir},
               label=f"prepare {db.name}")


def _train_job(spec: ExperimentSpec, prepare: Job, database: str, augment: str, steps: int, seed: int,
               variant: str = STANDARD_VARIANT) -> Job:
    steps = max(1, round(steps * spec.database(database).steps_scale))
    ts = train_settings(spec, augment=augment, steps=steps, seed=seed, **spec.variant_training(variant)
                        ).model_dump(mode="json")
    identity = {k: v for k, v in ts.items()
                if k not in _NOT_IDENTITY and not (k in _LATER_SETTINGS and v == _LATER_SETTINGS[k])}
    settings = {"database": database, "prepare_job": prepare.id, "augment": augment, "steps": steps,
                "train_seed": seed, "model": ts.get("model"), "train": identity}
    named = variant != STANDARD_VARIANT
    if named:  # the standard variant's models keep the ids they had before variants existed
        settings["variant"] = variant
    train_id = job_id(JobKind.TRAIN, settings)
    folder = f"{augment}-{variant}" if named else augment
    model_dir = RunDir.model_dir(database, f"{folder}-{steps}steps-seed{seed}-{train_id[-8:]}")
    inputs = {"faceset": prepare.inputs["faceset"], "model_dir": model_dir, "train": ts}
    label = f"train {database} {augment}{f' ({variant})' if named else ''} {steps} steps seed {seed}"
    return Job(train_id, JobKind.TRAIN, settings, inputs, (prepare.id,), label)


def _evaluate_job(spec: ExperimentSpec, train: Job, test_prepare: Job, deployed: list[dict[str, Any]]) -> Job:
    """The clean evaluation of a model on a database's test split, behind a deployed defence stack. A model
    on its own database, undefended, keeps the id it always had; on another database its EER threshold
    still comes from its training database's dev split."""
    s = train.settings
    database = test_prepare.settings["database"]
    settings = {"database": database, **{k: s[k] for k in ("augment", "steps", "train_seed", "model")},
                "train_job": train.id, "options": spec.evaluate.given(), **_variant_key(train)}
    inputs = {"faceset": test_prepare.inputs["faceset"], "model_dir": train.inputs["model_dir"],
              "options": spec.evaluate.given()}
    needs = (train.needs[0], train.id)
    variant = f" ({s['variant']})" if "variant" in s else ""
    label = f"evaluate {s['database']} {s['augment']}{variant} {s['steps']} steps seed {s['train_seed']}"
    if database != s["database"]:
        settings["train_database"] = s["database"]
        inputs["threshold_faceset"] = train.inputs["faceset"]
        needs += (test_prepare.id,)
        label += f" on {database}"
    if deployed:
        settings["defences"] = deployed
        inputs["defences"] = deployed
        label += f" behind {_describe(deployed)}"
    return Job(job_id(JobKind.EVALUATE, settings), JobKind.EVALUATE, settings, inputs, needs, label)


def _variant_key(train: Job) -> dict[str, Any]:
    return {"variant": train.settings["variant"]} if "variant" in train.settings else {}


def _stack(entries: list) -> list[dict[str, Any]]:
    """A grid's defence stack as canonical JSON dicts (spec_checks has validated it)."""
    if not entries:
        return []
    from ..defences import parse_stack, stack_json

    return stack_json(parse_stack(entries))


def _randomized(stack: list[dict[str, Any]]) -> bool:
    """Whether a stack declares itself randomized (a defence's settings say so)."""
    if not stack:
        return False
    from ..defences import parse_stack

    return any(settings.randomized for settings in parse_stack(stack))


def _stack_key(stack: list[dict[str, Any]]) -> dict[str, Any]:
    return {"defences": stack} if stack else {}


def _describe(stack: list[dict[str, Any]]) -> str:
    from ..defences import describe_stack, parse_stack

    return describe_stack(parse_stack(stack))


def _attack_points(grid: Grid, stack: list[dict[str, Any]]) -> list[tuple[AttackSpec, int]]:
    """Every (attack, seed) of a grid against one stack: settings validated and completed by the attack,
    its `eot` chosen for the stack when the grid leaves it unset."""
    randomized = _randomized(stack)
    return [(AttackSpec(name=entry.name, settings=values).for_pipeline(randomized=randomized), seed)
            for entry in grid.attacks for values in entry.points() for seed in entry.seed]


def _trained(train: Job, test_prepare: Job) -> ModelRef:
    """A trained model as attacked on a database's FaceSet: its own, or another one (cross-database)."""
    identity = {**{k: train.settings[k] for k in ("database", "augment", "steps", "train_seed", "model")},
                "train_job": train.id, **_variant_key(train)}
    needs = (train.needs[0], train.id)
    database = test_prepare.settings["database"]
    variant = f" ({train.settings['variant']})" if "variant" in train.settings else ""
    label = f"{train.settings['augment']}{variant} {train.settings['steps']} steps"
    if database != train.settings["database"]:
        identity = {**identity, "database": database, "train_database": train.settings["database"]}
        needs += (test_prepare.id,)
        label += f" (trained on {train.settings['database']})"
    return ModelRef(train.id, database, identity, {"id": train.id, "source": train.inputs["model_dir"]}, needs, label)


def _external_targets(spec: ExperimentSpec, names: list[str] | None, database: str, prepare: Job) -> list[ModelRef]:
    """The spec's external targets a study attacks on this database (`names` None: all of them)."""
    from ..targets.identity import target_id

    refs = []
    for entry in spec.targets:
        if entry.database != database or (names is not None and entry.name not in names):
            continue
        source = entry.resolved_source(spec.data_root)
        key = target_id(source, entry.contract)
        # `augment` carries the target's name so it takes a row of the per-database tables.
        identity = {"database": database, "augment": f"{entry.name} (external)", "model": "external",
                    "target_name": entry.name}
        opened = {"id": key, "source": source, "contract": entry.contract,
                  **({"options": {"trust_model": True}} if entry.trust_model else {})}
        refs.append(ModelRef(key, database, identity, opened, (prepare.id,), f"{entry.name} (external)"))
    return refs


def _group_entry(groups: dict[str, dict[str, Any]], prepare: Job, model: ModelRef, attack: AttackSpec, seed: int,
                 study: str, stack: list[dict[str, Any]], selection: ImageSelection | None) -> dict[str, Any]:
    """Attack points that differ only in their budget share one group (run once, at the largest); a study
    with its own image selection gets groups of its own."""
    budget_field = attack_class(attack.name).Settings.budget_field
    without = {k: v for k, v in attack.settings.items() if k != budget_field}
    owner = {"train_job": model.key} if "train_job" in model.identity else {"target": model.key}
    if "train_database" in model.identity:
        owner["database"] = model.database
    images = {"images": selection.model_dump(mode="json")} if selection is not None else {}
    key = job_id("group", {**owner, "attack": {"name": attack.name, "settings": without}, "seed": seed,
                           **_stack_key(stack), **images})
    entry = groups.setdefault(key, {"key": key, "prepare": prepare, "model": model, "attack": attack, "seed": seed,
                                    "budget_field": budget_field, "budgets": set(), "studies": [],
                                    "defences": stack, "selection": selection})
    entry["budgets"].add(int(attack.settings[budget_field]))
    if study not in entry["studies"]:
        entry["studies"].append(study)
    return entry


def _finish_group(entry: dict[str, Any]) -> AttackGroup:
    model: ModelRef = entry["model"]
    budgets = tuple(sorted(entry["budgets"]))
    attack = entry["attack"].with_settings(**{entry["budget_field"]: budgets[-1]})
    inputs = {"faceset": entry["prepare"].inputs["faceset"]}
    if "train_job" in model.identity:
        inputs["model_dir"] = model.target["source"]
    return AttackGroup(entry["key"], model.database, entry["prepare"].id, model, attack, entry["seed"],
                       tuple(entry["defences"]), inputs, budgets, tuple(entry["studies"]), entry["budget_field"],
                       entry["selection"])


def _ordered(jobs: dict[str, Job]) -> dict[str, Job]:
    rank = {JobKind.PREPARE: 0, JobKind.TRAIN: 1, JobKind.EVALUATE: 2, JobKind.ATTACK: 3}
    return {j.id: j for j in sorted(jobs.values(), key=lambda j: rank[j.kind])}


# ----- attack shards, once the FaceSet exists ------------------------------------------------------
def select_images(faceset: FaceSet, selection: ImageSelection) -> list[int]:
    """FaceSet ids to attack (the same for every model of the database): see `select_image_ids`."""
    return select_image_ids(faceset, split=selection.split, labels=selection.labels.value,
                            limit=selection.limit, seed=selection.seed)


def shard_jobs(group: AttackGroup, image_ids: list[int], selection: ImageSelection) -> list[Job]:
    """One job per shard of `shard_size` images, named like `fasrobust attack` names its shards (the
    model's train job or the external target's id is the target, the prepare job the FaceSet), so a shard's
    id names its images and a changed selection never reuses a shard that attacked others. The settings
    nest the model's identity under "system" (what the report groups by)."""
    planned = plan_attack_jobs(target_id=group.model.key, faceset_id=group.prepare_job, split=selection.split,
                               labels=selection.labels.value, image_ids=image_ids, attack=group.attack,
                               seed=group.seed, shard_size=selection.shard_size, defences=list(group.defences),
                               system=group.model.identity)
    behind = f" behind {_describe(list(group.defences))}" if group.defences else ""
    inputs = {**group.inputs, "target": group.model.target}
    return [Job(shard.job_id, JobKind.ATTACK, shard.settings, inputs, group.model.needs,
                f"attack {group.database} {group.model.label}{behind} {group.attack.describe()} "
                f"shard {shard.shard + 1}/{len(planned)}") for shard in planned]
