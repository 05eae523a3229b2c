"""An attack as data (attack stage): `{name, settings}`, the one form an attack travels in: the command
line builds one, a spec's grid expands into them, a job's settings nest one under "attack", every store row
keeps its two parts, adversarial fine-tuning names one. Settings are validated and completed by the attack's
own settings model when the spec is built, so two specs that mean the same attack are equal and hash alike."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..paper import PAPER_ATTACK
from .base import Attack, attack_class, attack_settings
from .settings_model import AttackSettings


class AttackSpec(BaseModel):
    """A registered attack's name and its complete settings (JSON values)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = PAPER_ATTACK
    settings: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _complete(self) -> AttackSpec:
        # Validated once, by the attack's own settings model; stored complete so equal attacks are equal.
        complete = attack_settings(self.name, self.settings).as_json()
        object.__setattr__(self, "settings", complete)
        return self

    @classmethod
    def of(cls, value: AttackSpec | Mapping[str, Any] | str) -> AttackSpec:
        """From a spec, `{"name": ..., "settings": {...}}`, or a bare name (the attack's defaults)."""
        if isinstance(value, AttackSpec):
            return value
        if isinstance(value, str):
            return cls(name=value)
        return cls.model_validate(dict(value))

    @classmethod
    def from_settings(cls, name: str, settings: AttackSettings) -> AttackSpec:
        return cls(name=name, settings=settings.as_json())

    def settings_model(self) -> AttackSettings:
        return attack_settings(self.name, self.settings)

    def attack_class(self) -> type[Attack]:
        return attack_class(self.name)

    def attack(self, **options: Any) -> Attack:
        """The attack object, with run options (`max_active`, `verify`) that change speed, not results."""
        return attack_class(self.name)(self.settings_model(), **options)

    def for_pipeline(self, *, randomized: bool) -> AttackSpec:
        """With `eot` chosen for the pipeline it attacks, when unset (see `eot.py`)."""
        return AttackSpec.from_settings(self.name, self.settings_model().for_pipeline(randomized=randomized))

    def with_settings(self, **values: Any) -> AttackSpec:
        return AttackSpec(name=self.name, settings={**self.settings, **values})

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "settings": dict(self.settings)}

    def digest(self) -> str:
        canonical = json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def describe(self) -> str:
        return f"{self.name} ({self.settings_model().describe()})"
