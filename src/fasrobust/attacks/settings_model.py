"""How an attack declares itself (attack stage): a typed settings model with its fields, defaults,
validation and query budget. The CLI generates the attack's options from it, the spec grid's axes are
its fields, the planner merges budgets along its `budget_field`, and the store keeps it as JSON with a
hash, so nothing outside `attacks/` names one attack's settings.

Only what changes an attack's results belongs here. How it runs (how many images side by side, on
which device) is a run option of the attack object, not a setting, so it never enters a job id."""

from __future__ import annotations

import hashlib
import json
from abc import abstractmethod
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import AttackError
from ..settings import Whole, describe_validation_error, fields_help

__all__ = ["AttackSettings", "Whole"]


#: Most draws an attack may average per query (expectation over transformation).
MAX_EOT_DRAWS = 64
#: `pixels: auto`: search each image's smallest pixel count instead of attacking a fixed one.
AUTO_PIXELS = "auto"
#: Under `pixels: auto`, one attempt at one pixel count may spend at most this share of an image's budget.
AUTO_ATTEMPT_SHARE = 8


def pixel_count(value: Any, maximum: int) -> int | str:
    """A `pixels` setting: a whole number in [1, maximum], or 'auto'."""
    if isinstance(value, str) and value.strip().lower() == AUTO_PIXELS:
        return AUTO_PIXELS
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise ValueError(f"pixels must be a whole number or 'auto', got {value!r}")
    if not 1 <= value <= maximum:
        raise ValueError(f"pixels must lie in [1, {maximum}] (or be 'auto'), got {value}")
    return int(value)


class AttackSettings(BaseModel):
    """Base of every attack's settings. Subclasses declare fields and the two class attributes; `eot`, how
    many answers of a randomized pipeline each query averages, is every attack's (see `eot.py`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    eot: Annotated[Whole | None, Field(ge=1, le=MAX_EOT_DRAWS, description="answers of the pipeline averaged per "
                                       "query, expectation over transformation (default: 8 when the pipeline "
                                       "declares itself randomized, else 1)")] = None

    #: The setting that sets the query budget (the DE's iterations, Sparse-RS's queries). Attacks are
    #: prefix-consistent along it, so a grid's budgets run once, at the largest.
    budget_field: ClassVar[str]
    #: The setting that sets how many pixels may change (the paper's Fig. 3 axis).
    size_field: ClassVar[str] = "pixels"
    #: The smallest value of the budget field that `queries_at` accepts (a curve over budgets starts here).
    smallest_budget: ClassVar[int] = 1

    @abstractmethod
    def query_budget(self) -> int:
        """Queries per image at most, the clean image's first query included."""

    def queries_at(self, budget: int) -> int:
        """The query budget these settings would have with `budget` in the budget field (for reading a
        smaller budget's result off a larger run)."""
        return self.with_budget(budget).query_budget()

    def with_budget(self, value: int) -> AttackSettings:
        return type(self).model_validate({**self.model_dump(), self.budget_field: value})

    @property
    def auto_pixels(self) -> bool:
        """True for `pixels: auto`: each image's smallest pixel count is searched (`minimal_pixels.py`)."""
        return getattr(self, self.size_field, None) == AUTO_PIXELS

    def attempt(self, pixels: int, queries: int) -> AttackSettings:
        """These settings at a fixed pixel count, with the largest budget whose queries stay within
        `queries` (None when even the smallest budget costs more)."""
        low, high = self.smallest_budget, int(getattr(self, self.budget_field))
        if self.queries_at(low) > queries:
            return None
        while low < high:  # the largest budget value that fits
            middle = (low + high + 1) // 2
            low, high = (middle, high) if self.queries_at(middle) <= queries else (low, middle - 1)
        return type(self).model_validate({**self.model_dump(), self.size_field: pixels, self.budget_field: low})

    def for_pipeline(self, *, randomized: bool) -> AttackSettings:
        """These settings with `eot` chosen for a pipeline that is (or is not) randomized, when unset."""
        from .eot import chosen_draws

        if self.eot is not None:
            return self
        return self.model_copy(update={"eot": chosen_draws(None, randomized=randomized)})

    def as_json(self) -> dict[str, Any]:
        """JSON-ready, the attack's own settings first and the shared `eot` last."""
        values = self.model_dump(mode="json")
        return {**{k: v for k, v in values.items() if k != "eot"}, "eot": values["eot"]}

    def digest(self) -> str:
        """A short stable hash of the settings (stored beside them; names PNG folders)."""
        canonical = json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def describe(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.as_json().items())

    @classmethod
    def parse(cls, data: dict[str, Any], *, attack: str) -> AttackSettings:
        """Validate, turning pydantic's report into one line that names the attack and the field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise AttackError(f"attack {attack!r}: {describe_validation_error(exc)}") from None

    @classmethod
    def fields_help(cls) -> dict[str, str]:
        """Field name -> its description and default, for generated CLI help."""
        return fields_help(cls)
