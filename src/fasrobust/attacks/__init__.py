"""Attack stage: black-box few-pixel attacks on any `Target`, batched over many images.

`create_attack("pixel", pixels=9, ...)` or `PixelAttack(...)`, then `.run(target, images, seed=...)`
-> one `AttackResult` per image. Each attack lives in its own module, declares its settings model
(`AttackSettings`) and registers itself; the modules named in `ATTACK_MODULES` are imported here, so
adding an attack is its file plus its name there. Importing this package is light (no torch): the CLI
and the spec checks read the settings models; the engines (`de.BatchedDE`, `de.minimize`, `canvas`)
are imported when an attack runs, or on first use of their names here."""

from importlib import import_module

from .base import Attack, Found, attack_class, attack_settings, create_attack, list_attacks, register_attack
from .criterion import Criterion
from .result import AttackResult, apply_perturbation, score_at
from .settings_model import AttackSettings

#: The attack modules (each registers one attack).
ATTACK_MODULES = ("pixel", "sparse_rs")
for _module in ATTACK_MODULES:
    import_module(f"{__name__}.{_module}")

from .pixel import PixelAttack, PixelSettings  # noqa: E402

_LAZY = {"BatchedDE": ".de", "DEConfig": ".de_config", "Strategy": ".de_config"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Attack", "AttackResult", "AttackSettings", "BatchedDE", "Criterion", "DEConfig", "Found",
           "PixelAttack", "PixelSettings", "Strategy", "apply_perturbation", "attack_class", "attack_settings",
           "create_attack", "list_attacks", "register_attack", "score_at"]
