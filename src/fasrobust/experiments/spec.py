"""Experiment specs: the whole grid of a study in one YAML file (the experiments stage's input).

A spec names the databases (prepared here, or FaceSets already on disk), the model and training
settings shared by every model, the grid axes (training: augmentation, steps, seed; `attacks`: a list
of registered attacks, each with lists of values for its own settings and seeds), the studies that pick a sub-grid each (the paper's
grid is not one cartesian product: Tables 3-6 cross eight augmentations with one attack, Fig. 3 one
model with nine pixel counts, ...), and the tables and figures wanted. `plan.py` expands it into jobs.

Validation happens in two passes: pydantic checks each value (`grid.steps.0: Input should be
greater than or equal to 1`), then `spec_checks.py` checks what only the whole spec can tell (an
unknown database, a figure that needs an axis the studies never vary). Both end as one-line
ConfigErrors naming the key."""

from __future__ import annotations

import itertools
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..attacks.ensemble import expand_ensembles
from ..errors import ConfigError
from ..paper import PAPER_ATTACK
from ..settings import Settings

PRESETS_PACKAGE = "fasrobust.experiments.presets"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # used in paths of the run directory


class TableName(StrEnum):
    AUGMENTATION = "augmentation"  # the paper's Tables 3-6: one row per augmentation setting
    TRAINING_STEPS = "training-steps"  # Tables 7-8: one column per number of training steps


class FigureName(StrEnum):
    PIXELS = "pixels"  # Fig. 3: recall drop against the number of pixels changed
    ITERATIONS = "iterations"  # Fig. 4: recall drop against the iteration budget (from trajectories)
    TRAJECTORIES = "trajectories"  # Fig. 5: best fitness per generation of random spoof images


class ImageLabels(StrEnum):
    SPOOF = "spoof"  # the paper: only spoof images are attacked (recall of the fake class)
    ALL = "all"  # live images too (an attack that makes live look spoof is not the paper's)


def augmentation_names() -> tuple[str, ...]:
    """Every canonical augmentation name: the paper's eight, 'impulse', and '<setting>+impulse'."""
    from ..training.augment import augment_names

    return augment_names()


Positive = Annotated[int, Field(ge=1)]
#: The training variant that is the spec's `training` unchanged (its models keep the ids they always had).
STANDARD_VARIANT = "standard"
Seed = Annotated[int, Field(ge=0, lt=2**63)]

#: Grid keys of specs written before attacks declared their own settings, and where they went.
_MOVED_ATTACK_KEYS = ("pixels", "iterations", "population", "f", "cr", "strategy", "attack_seed")


def _distinct(values: list, what: str = "value") -> list:
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise ValueError(f"{what} {seen[0]!r} is listed twice")
    return values


class AttackGrid(BaseModel):
    """One attack of the grid: its registered `name`, the seeds, and a list of values for any of its own
    settings (the attack's settings model says which exist; `spec_checks` asks it). A setting not listed
    takes the attack's default."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = PAPER_ATTACK
    seed: list[Seed] = Field(default_factory=lambda: [0], min_length=1)

    @field_validator("seed")
    @classmethod
    def _seeds(cls, values: list) -> list:
        return _distinct(values)

    @model_validator(mode="after")
    def _axes_are_lists(self):
        for key, values in (self.model_extra or {}).items():
            if not isinstance(values, list) or not values:
                raise ValueError(f"{key}: give a non-empty list of values, e.g. {key}: [{values!r}]")
            _distinct(values)
        return self

    def axes(self) -> dict[str, list]:
        """The attack's own settings axes (name and seed excluded), in the order given."""
        return dict(self.model_extra or {})

    def points(self) -> list[dict[str, Any]]:
        """Every combination of the axes, as settings dicts (without the seed)."""
        axes = self.axes()
        return [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]

    def overridden(self, values: dict[str, list]) -> AttackGrid:
        return AttackGrid.model_validate({**self.model_dump(), **values})


def _refuse_moved_keys(data: Any, where: str) -> Any:
    """Refuse the grid keys that moved into the attacks' entries, and expand an `ensemble` entry into the
    attacks it declares (`attacks/ensemble.py`)."""
    if isinstance(data, dict):
        if "attacks" in data:
            data = {**data, "attacks": expand_ensembles(data["attacks"])}
        moved = [k for k in _MOVED_ATTACK_KEYS if k in data]
        if moved:
            axes = ", ".join(f"{k}: {data[k]}" for k in moved if k != "attack_seed")
            raise ValueError(f"{moved[0]}: attack settings moved into the attack's own entry: write "
                             f"{where}attacks: [{{name: pixel, {axes}}}] (attack_seed is now the entry's seed)")
    return data


class Grid(Settings):
    """Values for every axis; a study may replace any of them with its own list."""

    # Empty: train no model (a spec that attacks only its `targets`).
    augment: list[str] = Field(default_factory=lambda: ["none"])
    steps: list[Positive] = Field(default_factory=lambda: [1000], min_length=1)
    train_seed: list[Seed] = Field(default_factory=lambda: [0], min_length=1)
    #: Training variants (the spec's `variants` by name; "standard" is the spec's training as it is).
    variant: list[str] = Field(default_factory=lambda: [STANDARD_VARIANT], min_length=1)
    attacks: list[AttackGrid] = Field(default_factory=lambda: [AttackGrid()], min_length=1)
    #: Defence stacks each model is attacked behind (`fasrobust.defences`: "median:3", {name: jpeg, quality:
    #: 75}, ...); [] is the undefended model. An attacker-side "eot:k" may end a stack of a randomized defence.
    defences: list[list[str | dict[str, Any]]] = Field(default_factory=lambda: [[]], min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        return _refuse_moved_keys(data, "")

    @field_validator("augment", "steps", "train_seed", "variant", "defences")
    @classmethod
    def _no_duplicates(cls, values: list) -> list:
        return _distinct(values)


TRAIN_AXES = ("augment", "steps", "train_seed", "variant")
#: Axes a study may replace besides the training axes and the attacks.
OTHER_AXES = ("defences",)


class Study(Settings):
    """A sub-grid: the grid's axes, with those given here replaced. `databases` defaults to all.
    `attacks` replaces the grid's attacks; `attack_settings` instead replaces one setting's values in
    every grid attack that has that setting (`pixels: [1, ..., 9]` for the paper's Fig. 3)."""

    name: str = Field(pattern=_NAME)
    description: str = ""
    databases: list[str] | None = None
    augment: list[str] | None = None
    steps: list[Positive] | None = None
    train_seed: list[Seed] | None = None
    variant: list[str] | None = None
    attacks: list[AttackGrid] | None = None
    attack_settings: dict[str, list] | None = None
    targets: list[str] | None = None  # names of the spec's external targets to attack (default: all)
    defences: list[list[str | dict[str, Any]]] | None = None
    #: Replaces keys of the spec's `images` for this study's attacks (e.g. `limit: 3` for an expensive
    #: attack run on a small subset of the images the other studies attack).
    images: dict[str, Any] | None = None
    #: Cross-database evaluation: models trained on each of `databases` are evaluated and attacked on each
    #: of these (the EER threshold still comes from the training database's dev split). None: each model on
    #: its own database only.
    test_databases: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        return _refuse_moved_keys(data, "")

    def resolve(self, grid: Grid, declares: Any = None) -> Grid:
        """This study's full grid (validated again, so a study's empty list or duplicate is caught).
        `declares(attack_name, setting) -> bool` says which grid attacks an `attack_settings` key fits."""
        own = {k: v for k, v in self.model_dump().items() if k in (*TRAIN_AXES, *OTHER_AXES) and v is not None}
        attacks = list(self.attacks) if self.attacks is not None else list(grid.attacks)
        if self.attack_settings:
            fits = declares or (lambda name, key: True)
            for key in self.attack_settings:
                if not any(fits(a.name, key) for a in attacks):
                    raise ValueError(f"attack_settings.{key}: no attack of this study has a setting {key!r}")
            attacks = [a.overridden({k: v for k, v in self.attack_settings.items() if fits(a.name, k)})
                       for a in attacks]
        return Grid.model_validate({**grid.model_dump(), **own, "attacks": [a.model_dump() for a in attacks]})


class DatabaseSpec(Settings):
    """One database: prepared into the run directory (`prepare`, PrepareSettings without `out`),
    or a FaceSet prepared before (`faceset`). `steps_scale` multiplies every step count for this
    database (the paper trains ROSE-Youtu twice as long: it has twice the images)."""

    name: str = Field(pattern=_NAME)
    prepare: dict[str, Any] | None = None
    faceset: Path | None = None
    steps_scale: float = Field(1.0, gt=0)


class ExternalTarget(Settings):
    """A model fasrobust did not train, attacked like the trained ones: its `source` (a run directory, an
    ONNX, TFLite or Keras file, a SavedModel, `python:pkg.module:function`, an http(s) URL), the database
    whose FaceSet it is attacked on, and its contract (`targets.contract.Contract`: input, output,
    service), the same keys the attack command's target options set. A relative path is resolved against
    `data_root` when the spec has one, else against the current folder."""

    name: str = Field(pattern=_NAME)
    source: str
    database: str
    contract: dict[str, Any] = Field(default_factory=dict)
    trust_model: bool = False  # run a SavedModel whose graph holds operations outside the numeric allow-list

    def resolved_source(self, data_root: Path | None) -> str:
        if "://" in self.source or self.source.startswith("python:"):
            return self.source
        path = Path(self.source).expanduser()
        if not path.is_absolute() and data_root is not None:
            path = Path(data_root).expanduser() / path
        return str(path.resolve())


class TrainingVariant(Settings):
    """Training settings that replace the spec's for the models of this variant: a training-time defence
    (`adversarial: {attack: sparse-rs, ...}` for adversarial fine-tuning) or any other TrainSettings key.
    A grid or study lists variants by name in `variant`."""

    name: str = Field(pattern=_NAME)
    description: str = ""
    training: dict[str, Any] = Field(default_factory=dict)


class EvaluateOptions(Settings):
    """How a model's clean metrics are computed (`training.evaluate.evaluate`'s options): the split the EER
    threshold is chosen on (None: dev, else train, never test) and the split scored. An unknown key is
    refused here, where the spec is read."""

    dev_split: str | None = None
    test_split: str = "test"

    def given(self) -> dict[str, Any]:
        """The options that differ from the defaults (what job ids hold: a spec that states none keeps the ids
        it had when these were a plain mapping)."""
        return self.model_dump(exclude_defaults=True)


class ImageSelection(Settings):
    """Which images of each FaceSet are attacked, and in shards of what size (a shard is the unit
    that is committed, resumed and sent to a worker)."""

    split: str = "test"
    labels: ImageLabels = ImageLabels.SPOOF
    limit: Positive | None = None  # a random subset of this many images, drawn with `seed`
    seed: Seed = 0
    shard_size: Positive = 50


class Outputs(Settings):
    tables: list[TableName] = Field(default_factory=lambda: list(TableName))
    figures: list[FigureName] = Field(default_factory=lambda: list(FigureName))
    trajectory_images: Positive = 40  # Fig. 5: this many random attacked spoof images per database
    trajectory_seed: Seed = 0


class ExperimentSpec(Settings):
    """The validated, resolved spec; saved as `spec.yaml` in the run directory."""

    name: str = Field(pattern=_NAME)
    description: str = ""
    synthetic: bool = False  # every output says so when the data is the embedded sample
    data_root: Path | None = None  # relative `prepare.root`s are resolved against it
    databases: list[DatabaseSpec] = Field(min_length=1)
    model: dict[str, Any] = Field(default_factory=dict)  # TrainSettings keys about the model
    training: dict[str, Any] = Field(default_factory=dict)  # the other TrainSettings keys
    evaluate: EvaluateOptions = Field(default_factory=EvaluateOptions)
    grid: Grid = Field(default_factory=Grid)
    targets: list[ExternalTarget] = Field(default_factory=list)  # models trained elsewhere, attacked too
    variants: list[TrainingVariant] = Field(default_factory=list)  # training-time defences and other variants
    studies: list[Study] = Field(default_factory=lambda: [Study(name="main")], min_length=1)
    images: ImageSelection = Field(default_factory=ImageSelection)
    outputs: Outputs = Field(default_factory=Outputs)

    @classmethod
    def build(cls, data: dict[str, Any], source: str | Path | None = None) -> ExperimentSpec:
        from .spec_checks import check_spec

        spec = super().build(data, source)
        problem = check_spec(spec)
        if problem:
            raise ConfigError(problem, source)
        return spec

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ExperimentSpec:
        """A spec shipped with fasrobust (`paper`, `paper-small`, `demo`)."""
        if name not in available_presets():
            raise ConfigError(f"unknown preset {name!r} (known: {', '.join(available_presets())})")
        resource = resources.files(PRESETS_PACKAGE) / f"{name}.yaml"
        with resources.as_file(resource) as path:
            return cls.load(path, **overrides)

    def study_images(self, study: Study) -> ImageSelection:
        """The image selection a study's attacks use: the spec's, with the study's own keys."""
        if not study.images:
            return self.images
        return ImageSelection.build({**self.images.model_dump(mode="json"), **study.images})

    def study_grids(self) -> dict[str, Grid]:
        return {study.name: study.resolve(self.grid, _declares) for study in self.studies}

    def database(self, name: str) -> DatabaseSpec:
        return next(d for d in self.databases if d.name == name)

    def variant_training(self, name: str) -> dict[str, Any]:
        """The TrainSettings keys a training variant replaces ({} for the standard one)."""
        if name == STANDARD_VARIANT:
            return {}
        return dict(next(v for v in self.variants if v.name == name).training)


def _declares(attack: str, setting: str) -> bool:
    """Whether a registered attack has this setting (False for an unknown attack: spec_checks names it)."""
    from ..attacks import attack_class
    from ..errors import AttackError

    try:
        return setting in attack_class(attack).Settings.model_fields
    except AttackError:
        return False


def available_presets() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(PRESETS_PACKAGE).iterdir() if p.name.endswith(".yaml"))


# ----- the stages' own settings, built from the spec ---------------------------------------------
def prepare_settings(db: DatabaseSpec, out: Path, data_root: Path | None):
    """PrepareSettings for a database of the spec, with relative roots resolved against data_root."""
    from ..data.prepare import PrepareSettings

    data = {"database": db.name, **(db.prepare or {}), "out": out}
    root = data.get("root")
    if root is not None and not Path(root).expanduser().is_absolute() and data_root is not None:
        data["root"] = Path(data_root).expanduser() / root
    return PrepareSettings.build(data)


def train_settings(spec: ExperimentSpec, *, augment: str, steps: int, seed: int, **extra: Any):
    """TrainSettings of one grid point (the spec's model and training keys plus the grid's values)."""
    from ..training.train_settings import TrainSettings

    return TrainSettings.build({**spec.model, **spec.training, "augment": augment, "steps": steps,
                                "seed": seed, **extra})
