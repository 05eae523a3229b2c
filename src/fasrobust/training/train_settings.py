"""Settings of the steps-based trainer (`fasrobust train`, `TrainSettings.load(train.yaml, **overrides)`).
Defaults are the paper's Table 2 (batch 64, momentum 0.9) and its 50,000 steps; the optimizer defaults to
`auto`: the paper's SGD at 1e-3 on ImageNet weights, Adam at 1e-4 from scratch, where that SGD stays at
chance for hundreds of steps. `resolved_optimizer` says which, and the trainer records it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

# The Enums live in a leaf so CLI options can use them without torch; importable from here as before.
from ..choices import AmpChoice, DeviceChoice, FreezePolicy, OptimizerName, PreprocessingChoice
from ..errors import ConfigError
from ..models.registry import list_models
from ..settings import Settings
from .adversarial import AdversarialTraining
from .augment import canonical_augment

#: Each optimizer's learning rate when none is given: the paper's SGD 1e-3, Lucena et al.'s Adam 1e-4.
DEFAULT_LR = {OptimizerName.SGD: 1e-3, OptimizerName.ADAM: 1e-4}

#: Settings that may change when a run is resumed; all others must match the saved state.
RESUMABLE_CHANGES = frozenset({"steps", "eval_every", "checkpoint_every", "device", "threads"})


class TrainSettings(Settings):
    model: str = "fasnet"
    #: Constructor arguments other than input_size and freeze (e.g. dropout, hidden).
    #: input_size defaults to the FaceSet's image size and must equal it when given.
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    #: None: the model's default (fasnet: ftweights-7conv) on top of ImageNet weights, 'none' from scratch.
    freeze: FreezePolicy | None = None
    imagenet_weights: Path | None = None
    preprocessing: PreprocessingChoice = PreprocessingChoice.AUTO
    #: One of the paper's eight settings (none, shift, shear, zoom, rotation, channel_shift, flip, all), the
    #: ninth "impulse" (sparse impulse noise, a training-time defence), or "<setting>+impulse".
    augment: str = "none"
    #: Overrides of the augmentation setting's ranges (names as in training/augment.py).
    augment_ranges: dict[str, Any] = Field(default_factory=dict)
    steps: int = Field(50_000, gt=0)
    batch_size: int = Field(64, gt=0)
    optimizer: OptimizerName = OptimizerName.AUTO
    #: None: the optimizer's own default (DEFAULT_LR).
    lr: float | None = Field(None, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    seed: int = 0
    #: Validate on the dev split every N steps (0: only at the end).
    eval_every: int = Field(1000, ge=0)
    #: Write model + resume state every N steps (0: only at the end).
    checkpoint_every: int = Field(1000, ge=0)
    device: DeviceChoice = DeviceChoice.AUTO
    amp: AmpChoice = AmpChoice.AUTO
    threads: int | None = Field(None, gt=0)
    #: Deterministic algorithms (bitwise-repeatable runs and resumes on CPU; best effort on CUDA).
    deterministic: bool = True
    train_split: str = "train"
    #: Split for periodic validation; None (or a FaceSet without it) skips validation.
    dev_split: str | None = "dev"
    #: Adversarial fine-tuning (training/adversarial.py); None trains on clean batches only.
    adversarial: AdversarialTraining | None = None
    #: Defence-aware training: the deployed input transform(s) every training and dev batch goes through
    #: ("median:3", or a stack listed in the order the image meets it), so a filter does not cost the clean
    #: accuracy of a model that never saw filtered crops. Deterministic transforms only; recorded in model.json.
    input_transform: list[str] = Field(default_factory=list)

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value not in list_models():
            raise ValueError(f"unknown model {value!r} (known: {', '.join(list_models())})")
        return value

    @field_validator("augment")
    @classmethod
    def _known_augment(cls, value: str) -> str:
        try:
            return canonical_augment(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("input_transform", mode="before")
    @classmethod
    def _transforms(cls, value: Any) -> list[str]:
        from ..defences import DEFENCES, Transform, parse_stack
        from ..errors import FasrobustError

        items = [value] if isinstance(value, str) else list(value or [])
        try:
            stack = parse_stack(items)
        except FasrobustError as exc:  # pydantic names the field; the defence's own line says the rest
            raise ValueError(str(exc)) from None
        for settings in stack:
            if settings.randomized or not issubclass(DEFENCES.get(settings.name), Transform):
                raise ValueError(f"{settings.describe()} is not a deterministic input transform (it cannot be "
                                 "trained through: train the model plainly and deploy it behind that defence)")
        return [s.describe() for s in stack]

    @field_validator("model_kwargs")
    @classmethod
    def _no_freeze_in_kwargs(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "freeze" in value:
            raise ValueError("give the freeze policy as the top-level 'freeze' setting")
        return value

    def idle_adversary(self) -> str | None:
        """One line when an adversarial schedule is set but no round of it can run in these steps."""
        if self.adversarial is not None and self.adversarial.start >= self.steps:
            return (f"adversarial.start {self.adversarial.start} is not below steps {self.steps}: no adversarial "
                    "round runs, so this model trains on clean batches only; lower adversarial.start or train longer")
        return None

    def resolved_optimizer(self, *, pretrained: bool) -> tuple[OptimizerName, float, str]:
        """(optimizer, learning rate, why) with `auto` and a missing lr resolved: Adam from scratch, the
        paper's SGD on pretrained weights."""
        name, why = self.optimizer, "chosen"
        if name is OptimizerName.AUTO:
            name = OptimizerName.SGD if pretrained else OptimizerName.ADAM
            why = ("auto: the paper's SGD on ImageNet weights" if pretrained else
                   "auto: Adam, because the paper's SGD at 1e-3 barely moves FASNet trained from scratch")
        lr = self.lr if self.lr is not None else DEFAULT_LR[name]
        return name, float(lr), why
