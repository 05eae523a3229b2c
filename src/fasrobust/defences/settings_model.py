"""How a defence declares itself (defence stage): a typed settings model with its fields, defaults and
validation, and a short text form for the command line and the spec ("median:3",
"smooth:sigma=8,n=16,vote=mean"). As for attacks, nothing outside `defences/` names one defence's
settings: the CLI, the spec grid, the store and the report read them from here.

A bare value sets the field the settings class names as `positional` ("jpeg:75" is quality 75); other
fields are `key=value`. A bad value is one ConfigError line naming the defence and the key."""

from __future__ import annotations

from typing import Any, ClassVar

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ConfigError
from ..settings import Whole, fields_help

__all__ = ["DefenceSettings", "Whole"]


class DefenceSettings(BaseModel):
    """Base of every defence's settings. Subclasses declare their fields and `positional`."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    #: The registered name ("median"); set by `register_defence`.
    name: ClassVar[str] = ""
    #: The field a bare value sets: "median:3" is size 3.
    positional: ClassVar[str]
    #: Fresh random draws on every query: the same image may get different scores. An attack on a
    #: randomized pipeline averages several answers per query (its `eot` option) unless told otherwise.
    randomized: ClassVar[bool] = False

    def as_json(self) -> dict[str, Any]:
        """{"name": ..., field: value, ...}: what the store keeps; `parse_defence` reads it back."""
        return {"name": self.name, **self.model_dump(mode="json")}

    def describe(self) -> str:
        """The canonical short text: "median:3" for one field, every field as key=value otherwise (so
        the text does not change meaning when a default does)."""
        values = self.model_dump(mode="json")
        if list(values) == [self.positional]:
            return f"{self.name}:{values[self.positional]}"
        return f"{self.name}:" + ",".join(f"{key}={value}" for key, value in values.items())

    @classmethod
    def parse(cls, data: dict[str, Any]) -> DefenceSettings:
        """Validate, turning pydantic's report into one line that names the defence and the key."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"defence {cls.name!r}: {cls._problem(exc.errors()[0])}") from None

    @classmethod
    def fields_help(cls) -> dict[str, str]:
        """Field name -> its description and default, for generated CLI help."""
        return fields_help(cls)

    @classmethod
    def _problem(cls, error: dict[str, Any]) -> str:
        key = ".".join(str(part) for part in error["loc"])
        kind, got = error["type"], error.get("input")
        if kind == "extra_forbidden":
            return f"unknown key {key!r} (known: {', '.join(cls.model_fields)})"
        if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
            return f"{key} must be {cls._bounds(key)}, got {got}"
        if kind.startswith("int_"):
            return f"{key} must be a whole number, got {got!r}"
        if kind.startswith("float_"):
            return f"{key} must be a number, got {got!r}"
        if kind == "enum":
            return f"{key} must be one of {error['ctx']['expected']}, got {got!r}"
        message = error["msg"].removeprefix("Value error, ")
        return f"{key} {message}" if key else message

    @classmethod
    def _bounds(cls, key: str) -> str:
        limits = {type(m): m for m in cls.model_fields[key].metadata if isinstance(m, Ge | Gt | Le | Lt)}
        if Ge in limits and Le in limits:
            return f"between {limits[Ge].ge} and {limits[Le].le}"
        words = {Ge: ("at least", "ge"), Gt: ("greater than", "gt"), Le: ("at most", "le"), Lt: ("less than", "lt")}
        return " and ".join(f"{words[t][0]} {getattr(m, words[t][1])}" for t, m in limits.items())
