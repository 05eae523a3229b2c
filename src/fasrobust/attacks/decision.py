"""What the decision-based attacks share (attack stage): they read only whether the target calls an image
live, so they work on a service that answers a decision as on any model. Each starts from an image the
target calls live (`starts.StartPool`) and shrinks the set of pixels that differ from the spoof
(`engines/l0_search.py`); the result is the smallest set it reached within the budget, with the
L0-against-queries trajectory and the start image's id.

`pixels` is the goal: an image stops once at most that many pixels differ, and succeeds only then.
Left at 0, each image runs its whole budget and succeeds whenever a start was found; its
`pixels_changed` is then the answer to "how many pixels does this spoof need".
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Annotated, ClassVar

import numpy as np
from pydantic import Field

from .base import DECISION, Attack, Found, FoundCallback
from .criterion import Criterion
from .engines.counter_layout import MAX_GENERATION
from .engines.l0_search import Outcome, Policy, search
from .settings_model import AttackSettings, Whole

if TYPE_CHECKING:
    import torch

    from ..targets.base import Target
    from .starts import StartPool

#: Start candidates tried per image unless the settings say otherwise.
START_TRIES = 20


class DecisionSettings(AttackSettings):
    """Settings every decision-based attack has; the budget is `queries` per image, the clean query and
    the queries that look for a start included."""

    budget_field = "queries"
    smallest_budget = 2

    queries: Annotated[Whole, Field(ge=2, le=MAX_GENERATION, description="queries per image, the clean "
                                  "image's and the start search's included")] = 1_000
    pixels: Annotated[Whole, Field(ge=0, le=1 << 24, description="goal: stop once at most this many pixels "
                                  "differ from the spoof (0: shrink them over the whole budget)")] = 0
    start_tries: Annotated[Whole, Field(ge=1, le=10_000, description="start images tried per spoof, in its "
                                       "seeded order, before it counts as a failure")] = START_TRIES

    def query_budget(self) -> int:
        return self.queries

    def queries_at(self, budget: int) -> int:
        return int(budget)


class DecisionAttack(Attack):
    """A decision-based L0 attack: subclasses declare `Settings` and build their `Policy`."""

    reads: ClassVar[str] = DECISION
    Settings: ClassVar[type[DecisionSettings]]

    @abstractmethod
    def policy(self) -> Policy:
        """The search this attack runs on each image (`engines.l0_search`)."""

    def _search(self, target: Target, originals: torch.Tensor, *, keys: torch.Tensor, p_before: np.ndarray,
                criterion: Criterion, on_found: FoundCallback, starts: StartPool | None = None,
                subjects: list | None = None, ids: np.ndarray | None = None) -> None:
        n, h, w, _ = originals.shape

        def done(outcome: Outcome) -> None:
            problem = outcome.problem
            note = "" if outcome.found_start else (f"none of the {len(problem.candidates)} start images tried "
                                                   "is called live")
            on_found(Found(problem=problem.index, perturbation=outcome.perturbation, p_live=problem.p_live,
                           queries=problem.spent, trajectory=outcome.score_trail, wall_time_s=_since(problem),
                           extra={"moves": problem.moves, "start_tries": problem.tried_starts},
                           l0_trajectory=outcome.l0_trail, start_id=outcome.start_id, goal_met=outcome.goal_met,
                           note=note))

        search(target, originals, keys, p_before, policy=self.policy(), starts=starts,
               ids=np.arange(n) if ids is None else ids, subjects=subjects,
               tries=self.config.start_tries, limit=self.config.queries - 1, goal=self.config.pixels,
               criterion=criterion, capacity=self.capacity(n, h * w * 3, target.device), on_done=done)


def _since(problem) -> float:
    import time

    return time.perf_counter() - problem.started
