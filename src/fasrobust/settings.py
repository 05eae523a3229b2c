"""Typed settings: pydantic models loaded from YAML, overridable from the CLI, saved resolved.
A bad value becomes one line naming the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from .errors import ConfigError

S = TypeVar("S", bound="Settings")


def _whole_number(value: Any) -> Any:
    # pydantic's lax int takes True and 2.0; a pixel count, a budget or a filter size of True is a typo,
    # 2.5 a mistake.
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"must be a whole number, got {value!r}")
    return value


#: An integer setting that refuses booleans and fractional floats (use inside Annotated with a Field).
Whole = Annotated[int, BeforeValidator(_whole_number)]


def fields_help(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> its description and default, for generated CLI help (attacks', defences' settings)."""
    out = {}
    for name, field in model.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = default.value if hasattr(default, "value") else default
        out[name] = f"{field.description or name} (default {shown})"
    return out


class Settings(BaseModel):
    """Base for every settings model: unknown keys are errors, values are immutable, numbers are finite (an
    `inf` scale or a `nan` threshold is refused where it is read, not blamed on the model later)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @classmethod
    def load(cls: type[S], path: str | Path, **overrides: Any) -> S:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError("settings file not found", path) from None
        except UnicodeDecodeError as exc:  # a binary file, or another encoding: YAML here is UTF-8
            raise ConfigError(f"not a UTF-8 text file (byte {exc.start} is 0x{exc.object[exc.start]:02x}); "
                              "settings are YAML in UTF-8", path) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise ConfigError(f"not valid YAML{where}", path) from None
        if not isinstance(data, dict):
            raise ConfigError("expected a mapping of settings at the top level", path)
        return cls.build({**data, **overrides}, source=path)

    @classmethod
    def build(cls: type[S], data: dict[str, Any], source: str | Path | None = None) -> S:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc), source) from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False))


def describe_validation_error(exc: ValidationError) -> str:
    """The first problem of a pydantic error as 'key.sub: message', plus a count of the others."""
    errors = exc.errors()
    first = errors[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{key}: {first['msg']}{more}"
