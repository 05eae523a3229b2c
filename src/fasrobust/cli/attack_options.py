"""The attack options of the command line, generated from the attacks' own settings models: every
registered attack's fields become `--name` options (shared fields, such as `--pixels`, appear once), so
a new attack's settings show up in `fasrobust attack --help` without an edit here. A value given for
a setting the chosen attack does not have is a one-line error naming the attacks that have it."""

from __future__ import annotations

import inspect
from typing import Any

import typer

from ..errors import ConfigError

PANEL = "Attack settings (each for the attacks its help names)"


def _owners() -> dict[str, list[str]]:
    from ..attacks import attack_class, list_attacks

    owners: dict[str, list[str]] = {}
    for name in list_attacks():
        for field in attack_class(name).Settings.model_fields:
            owners.setdefault(field, []).append(name)
    return owners


def attack_parameters(reserved: set[str]) -> list[inspect.Parameter]:
    """Keyword-only parameters (typer Options, default None = the attack's default) for every setting."""
    from ..attacks import attack_class
    from ..attacks.settings_model import AttackSettings

    shared = AttackSettings.fields_help()
    params = []
    for field, names in _owners().items():
        if field in reserved:
            raise RuntimeError(f"attack setting {field!r} clashes with an option of the command")
        if field in shared:  # declared by every attack's settings base: said once
            helps = [f"every attack: {shared[field]}"]
        else:
            helps = [f"{name}: {attack_class(name).Settings.fields_help()[field]}" for name in names]
        option = typer.Option(None, f"--{field.replace('_', '-')}", help="; ".join(helps), rich_help_panel=PANEL,
                              show_default=False, metavar="VALUE")
        params.append(inspect.Parameter(field, inspect.Parameter.KEYWORD_ONLY, default=option,
                                        annotation=str | None))
    return params


def chosen_settings(attack: str, values: dict[str, Any]):
    """The chosen attack's settings from the given option values (strings; the model converts them)."""
    from ..attacks import attack_class, attack_settings

    cls = attack_class(attack)
    given = {k: v for k, v in values.items() if v is not None}
    foreign = [k for k in given if k not in cls.Settings.model_fields]
    if foreign:
        owners = _owners()
        option = foreign[0]
        raise ConfigError(f"--{option.replace('_', '-')} is a setting of {', '.join(owners[option])}, not of "
                          f"--attack {attack} (its settings: "
                          f"{', '.join('--' + f.replace('_', '-') for f in cls.Settings.model_fields)})")
    return attack_settings(attack, given)
