"""What an attack queries: a `Target` maps uint8 (N, H, W, 3) RGB images to P(live) per image.

Adapters own scaling, layout and normalisation; the base class validates inputs and outputs,
chunks batches and counts queries exactly."""

from .base import QueryBudgetExceeded, Target

__all__ = ["Target", "QueryBudgetExceeded"]
