"""Attack stage: black-box few-pixel attacks on any `Target`, batched over many images.

`create_attack("pixel", pixels=9, ...)` or `PixelAttack(...)`, then `.run(target, images, seed=...)`
-> one `AttackResult` per image. The DE engine (`de.BatchedDE`, `de.minimize`) is usable on its own."""

from .base import Attack, create_attack, list_attacks, register_attack
from .de import BatchedDE, DEConfig, Strategy
from .pixel import PixelAttack
from .result import AttackResult, apply_perturbation

__all__ = ["Attack", "AttackResult", "BatchedDE", "DEConfig", "PixelAttack", "Strategy", "apply_perturbation",
           "create_attack", "list_attacks", "register_attack"]
