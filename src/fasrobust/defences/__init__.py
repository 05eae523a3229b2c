"""Defence stage: input-transformation defences as wrappers around any `Target`, and the attacker's
view of randomized ones.

`defend(target, ["median:3", "jpeg:75"])` -> a Target that median-filters, JPEG-encodes, then asks the
model; `parse_defence("smooth:sigma=8,n=16")` -> typed settings; `create_defence("jpeg", quality=75)`.
Each defence lives in its own module, declares its settings model (`DefenceSettings`) and registers
itself; the modules named in `DEFENCE_MODULES` are imported here. Importing this package is light (no
torch): the CLI and the spec checks read the settings; `DefendedTarget` and `defend` (defended.py, which
needs the targets) are imported on first use of their names here."""

from importlib import import_module

from .base import (
    Defence,
    Transform,
    build_defence,
    create_defence,
    defence_class,
    list_defences,
    register_defence,
)
from .settings_model import DefenceSettings
from .stack import describe_stack, parse_defence, parse_stack, stack_json

#: The defence modules (each registers one defence).
DEFENCE_MODULES = ("median", "blur", "jpeg", "bits", "smooth", "squeeze", "eot")
for _module in DEFENCE_MODULES:
    import_module(f"{__name__}.{_module}")

_LAZY = {"DefendedTarget": ".defended", "defend": ".defended"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Defence", "DefenceSettings", "DefendedTarget", "Transform", "build_defence", "create_defence",
           "defence_class", "defend", "describe_stack", "list_defences", "parse_defence", "parse_stack",
           "register_defence", "stack_json"]
