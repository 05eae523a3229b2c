"""Defences as users write them (defence stage): "median:3", "smooth:sigma=8,n=16,vote=mean", or a dict
{"name": "median", "size": 3}, and stacks of them (`--defence median:3 --defence jpeg:75`).

A stack lists the deployed pipeline in the order the image meets it: "median:3 + jpeg:75" median-filters
the input, JPEG-encodes the result, then the model scores it. A stack is only what is deployed: how an
attacker averages a randomized pipeline (expectation over transformation) is the attack's `eot` option."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ConfigError
from .base import defence_class
from .settings_model import DefenceSettings


def parse_defence(item: str | Mapping[str, Any] | DefenceSettings) -> DefenceSettings:
    """Validated settings of one defence from its text or its JSON form (`DefenceSettings.as_json`)."""
    if isinstance(item, DefenceSettings):
        return item
    if isinstance(item, Mapping):
        data = dict(item)
        name = data.pop("name", None)
        if not isinstance(name, str):
            raise ConfigError(f"a defence given as a mapping needs its 'name' (a string), got {name!r}")
    elif isinstance(item, str):
        name, data = _split(item)
    else:
        raise ConfigError(f"a defence is text such as 'median:3' or a mapping with a 'name', got {item!r}")
    return _settings_class(name).parse(data)


#: Names that were defences once and are something else now: the one line a user then gets.
MOVED = {"eot": "eot is an attack option now, not a defence (a stack is only what is deployed): give "
                "--eot K to `fasrobust attack`, or `eot: [K]` in a spec's attack entry"}


def _settings_class(name: str) -> type[DefenceSettings]:
    if name in MOVED:
        raise ConfigError(MOVED[name])
    return defence_class(name).Settings


def _split(text: str) -> tuple[str, dict[str, str]]:
    name, _, rest = text.strip().partition(":")
    name = name.strip()
    settings = _settings_class(name)  # an unknown name is the first thing to report
    data: dict[str, str] = {}
    for part in (p.strip() for p in rest.split(",")):
        if not part:
            continue
        key, equals, value = part.partition("=")
        key, value = (key.strip(), value.strip()) if equals else (settings.positional, part)
        if key in data:
            raise ConfigError(f"defence {name!r}: {key} given twice in {text!r}")
        data[key] = value
    return name, data


def parse_stack(items: Iterable[str | Mapping[str, Any] | DefenceSettings] | None) -> tuple[DefenceSettings, ...]:
    """A stack in the order the image meets it."""
    return tuple(parse_defence(item) for item in items or ())


def stack_json(stack: Iterable[DefenceSettings]) -> list[dict[str, Any]]:
    return [settings.as_json() for settings in stack]


def describe_stack(stack: Iterable[DefenceSettings]) -> str:
    """"median:3 + jpeg:75"; "none" for no defence."""
    return " + ".join(settings.describe() for settings in stack) or "none"
