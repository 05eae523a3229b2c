"""Pointwise, at pixel granularity and with a query budget: the baseline decision-based L0 attack (after
Schott et al., ICLR 2019, as foolbox 3's PointwiseAttack). From a start image the target calls live, it
tries the pixels that still come from the start one by one, in a random order, putting each back to the
spoof's colour and keeping that when the target still calls the image live; passes repeat until one
keeps none (a local minimum: no single pixel can go back) or the budget is spent.

foolbox works on channel values and has no budget; this one restores whole pixels, one query each, so
its L0 counts pixels like every other attack here (`benchmarks/decision_attacks.py` compares the two).
"""

from __future__ import annotations

from .base import register_attack
from .decision import DecisionAttack, DecisionSettings
from .engines.l0_search import Policy, Problem, Proposal, next_single, passed, restart_passes


class PointwiseSettings(DecisionSettings):
    """Pointwise's settings: the shared budget, goal and start tries."""


class ReversionPasses(Policy):
    """Passes over the donor pixels in random order, one reversion per query."""

    def begin(self, problem: Problem) -> None:
        restart_passes(problem)

    def propose(self, problem: Problem) -> Proposal | None:
        return next_single(problem, "revert")

    def learn(self, problem: Problem, proposal: Proposal, live: bool) -> None:
        passed(problem, live)


@register_attack("pointwise", description="Pointwise, one pixel put back per query (decision-based baseline, "
                 "after Schott et al. 2019)", smoke={"queries": 120})
class PointwiseAttack(DecisionAttack):
    Settings = PointwiseSettings

    def policy(self) -> Policy:
        return ReversionPasses()
