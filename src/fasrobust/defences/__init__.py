"""Defence stage: input-transformation defences as wrappers around any `Target`: what a user deploys in
front of a model (an attacker's averaging over a randomized one is the attacks' `eot` option).

`defend(target, ["median:3", "jpeg:75"])` -> a Target that median-filters, JPEG-encodes, then asks the
model; `parse_defence("smooth:sigma=8,n=16")` -> typed settings; `create_defence("jpeg", quality=75)`.
Each defence lives in its own module, declares its settings model (`DefenceSettings`) and registers
itself in the `DEFENCES` registry, which finds every module of this package (a new defence is one new
file). Importing this package is light (no torch): the CLI and the spec checks read the settings."""

from .base import (
    DEFENCES,
    Defence,
    Transform,
    build_defence,
    create_defence,
    defence_class,
    list_defences,
    register_defence,
)
from .defended import DefendedTarget, defend
from .settings_model import DefenceSettings
from .stack import describe_stack, parse_defence, parse_stack, stack_json

__all__ = ["DEFENCES", "Defence", "DefenceSettings", "DefendedTarget", "Transform", "build_defence",
           "create_defence", "defence_class", "defend", "describe_stack", "list_defences", "parse_defence",
           "parse_stack", "register_defence", "stack_json"]
