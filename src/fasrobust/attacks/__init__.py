"""Attack stage: black-box few-pixel attacks on any `Target`, batched over many images.

`create_attack("pixel", pixels=9, ...)` or `AttackSpec(name="sparse-rs", settings={...}).attack()`, then
`.run(target, images, seed=...)` -> one `AttackResult` per image. Each attack lives in its own module,
declares its settings model (`AttackSettings`) and registers itself in `ATTACKS`, which finds every module
of this package (a new attack is one new file) and the plug-ins of the entry-point group
`fasrobust.attacks`. Importing this package is light (no torch): the CLI and the spec checks read the
settings models; the batched engines (`engines/`) are imported when an attack runs."""

from .base import (
    ATTACKS,
    DECISION,
    RUN_OPTIONS,
    SCORE,
    Attack,
    Found,
    attack_class,
    attack_settings,
    create_attack,
    list_attacks,
    register_attack,
)
from .criterion import Criterion
from .result import AttackResult, apply_perturbation, score_at
from .settings_model import AttackSettings
from .spec import AttackSpec
from .starts import StartPool

__all__ = ["ATTACKS", "DECISION", "RUN_OPTIONS", "SCORE", "Attack", "AttackResult", "AttackSettings", "AttackSpec",
           "Criterion", "Found", "StartPool", "apply_perturbation", "attack_class", "attack_settings", "create_attack",
           "list_attacks", "register_attack", "score_at"]
