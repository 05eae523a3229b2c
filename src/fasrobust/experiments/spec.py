"""Experiment specs: the whole grid of a study in one YAML file (the experiments stage's input).

A spec names the databases (prepared here, or FaceSets already on disk), the model and training
settings shared by every model, the grid axes (training: augmentation, steps, seed; attack: pixels,
iterations, population, F, CR, strategy, seed), the studies that pick a sub-grid each (the paper's
grid is not one cartesian product: Tables 3-6 cross eight augmentations with one attack, Fig. 3 one
model with nine pixel counts, ...), and the tables and figures wanted. `plan.py` expands it into jobs.

Validation happens in two passes: pydantic checks each value (`grid.pixels.0: Input should be
greater than or equal to 1`), then `spec_checks.py` checks what only the whole spec can tell (an
unknown database, a figure that needs an axis the studies never vary). Both end as one-line
ConfigErrors naming the key."""

from __future__ import annotations

from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator

from ..errors import ConfigError
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


#: The paper's eight settings, used when the training stage is not importable (a bare checkout).
_AUGMENTATIONS = ("none", "shift", "shear", "zoom", "rotation", "channel_shift", "flip", "all")


def augmentation_names() -> tuple[str, ...]:
    try:
        from ..training.augment import AugmentSetting
    except ImportError:
        return _AUGMENTATIONS
    return tuple(s.value for s in AugmentSetting)


Positive = Annotated[int, Field(ge=1)]
Seed = Annotated[int, Field(ge=0, lt=2**63)]


class Grid(Settings):
    """Values for every axis; a study may replace any of them with its own list."""

    augment: list[str] = Field(default_factory=lambda: ["none"], min_length=1)
    steps: list[Positive] = Field(default_factory=lambda: [1000], min_length=1)
    train_seed: list[Seed] = Field(default_factory=lambda: [0], min_length=1)
    pixels: list[Positive] = Field(default_factory=lambda: [9], min_length=1)
    iterations: list[Positive] = Field(default_factory=lambda: [200], min_length=1)
    population: list[Annotated[int, Field(ge=4)]] = Field(default_factory=lambda: [400], min_length=1)
    f: list[Annotated[float, Field(gt=0, le=2)]] = Field(default_factory=lambda: [0.5], min_length=1)
    cr: list[Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=lambda: [1.0], min_length=1)
    strategy: list[str] = Field(default_factory=lambda: ["rand1"], min_length=1)
    attack_seed: list[Seed] = Field(default_factory=lambda: [0], min_length=1)

    @field_validator("*")
    @classmethod
    def _no_duplicates(cls, values: list) -> list:
        seen = [v for i, v in enumerate(values) if v in values[:i]]
        if seen:
            raise ValueError(f"value {seen[0]!r} is listed twice")
        return values


TRAIN_AXES = ("augment", "steps", "train_seed")
ATTACK_AXES = ("pixels", "iterations", "population", "f", "cr", "strategy", "attack_seed")


class Study(Settings):
    """A sub-grid: the grid's axes, with those given here replaced. `databases` defaults to all."""

    name: str = Field(pattern=_NAME)
    description: str = ""
    databases: list[str] | None = None
    augment: list[str] | None = None
    steps: list[Positive] | None = None
    train_seed: list[Seed] | None = None
    pixels: list[Positive] | None = None
    iterations: list[Positive] | None = None
    population: list[Annotated[int, Field(ge=4)]] | None = None
    f: list[Annotated[float, Field(gt=0, le=2)]] | None = None
    cr: list[Annotated[float, Field(ge=0, le=1)]] | None = None
    strategy: list[str] | None = None
    attack_seed: list[Seed] | None = None

    def resolve(self, grid: Grid) -> Grid:
        """This study's full grid (validated again, so a study's empty list or duplicate is caught)."""
        own = {k: v for k, v in self.model_dump().items() if k in Grid.model_fields and v is not None}
        return Grid.model_validate({**grid.model_dump(), **own})


class DatabaseSpec(Settings):
    """One database: prepared into the run directory (`prepare`, PrepareSettings without `out`),
    or a FaceSet prepared before (`faceset`). `steps_scale` multiplies every step count for this
    database (the paper trains ROSE-Youtu twice as long: it has twice the images)."""

    name: str = Field(pattern=_NAME)
    prepare: dict[str, Any] | None = None
    faceset: Path | None = None
    steps_scale: float = Field(1.0, gt=0)


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
    evaluate: dict[str, Any] = Field(default_factory=dict)  # keyword arguments of evaluate()
    attack: str = "pixel"  # a registered attack; the grid's attack axes are its settings
    grid: Grid = Field(default_factory=Grid)
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

    def study_grids(self) -> dict[str, Grid]:
        return {study.name: study.resolve(self.grid) for study in self.studies}

    def database(self, name: str) -> DatabaseSpec:
        return next(d for d in self.databases if d.name == name)


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
    try:
        from ..training.train_settings import TrainSettings
    except ImportError:  # a checkout without the training stage: nothing to validate against yet
        return {**spec.model, **spec.training, "augment": augment, "steps": steps, "seed": seed, **extra}
    return TrainSettings.build({**spec.model, **spec.training, "augment": augment, "steps": steps,
                                "seed": seed, **extra})
