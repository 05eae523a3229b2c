"""sparse-evo: a decision-based L0 attack that reads only live or spoof (after SparseEvo, Vo et al., ICLR
2022, whose published algorithm evolves a binary mask of the pixels taken from a start image; this one
keeps that state and replaces the evolution by the moves below, which measured better here).

From a start image the target calls live (`starts.py`), the state is which pixels still come from it and
their colours; a candidate is kept when the target still calls it live. The moves, in phases:
1. Group reversion: put a random group of g taken pixels back to the spoof's colours. g starts at half
   the taken pixels, doubles after a kept move and halves after a refused one, so it settles where about
   half the groups can go back: many pixels per query while most can.
2. Amplify, once g is down to 1: push each taken pixel's colour away from the spoof's to the end of the
   colour range, channel by channel. A pixel that moved the decision a little now moves it more, so
   group reversion starts again (g at a quarter of the taken pixels) with room to spare. SparseEvo only
   ever copies the start image's colours; that is where it stalls (BENCHMARKS.md: amplifying after the
   first groups took the median L0 on FASNet at 1,000 queries from 19 to 10 pixels, at 200 from 336 to 18).
3. Single passes: once g is down to 1 again, every taken pixel is tried once, in a random order; passes
   repeat while one keeps something.
4. Trade, at a local minimum (a pass kept nothing): replace two taken pixels by one new pixel at a random
   place with a random extreme colour (a corner of the colour cube, as Sparse-RS draws): one pixel fewer
   when kept. Trades repeat, with a single pass after every kept one, until the budget is spent.

Each candidate is one query; everything else (exact counts, per-image streams, the L0 trajectory, the
re-verified PNG, the start image's id) is `decision.py`'s and the engine's.
"""

from __future__ import annotations

import numpy as np

from .base import register_attack
from .decision import DecisionAttack, DecisionSettings
from .engines.l0_search import Policy, Problem, Proposal, next_single, passed, restart_passes

CORNERS = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)], dtype=np.uint8)


class SparseEvoSettings(DecisionSettings):
    """sparse-evo's settings: the shared budget, goal and start tries."""


def amplified(donor: np.ndarray, spoof: np.ndarray) -> np.ndarray:
    """Each channel pushed away from the spoof's value to 0 or 255 (kept where it equals the spoof's)."""
    return np.where(donor > spoof, 255, np.where(donor < spoof, 0, spoof)).astype(np.uint8)


class EscapingReversion(Policy):
    def begin(self, problem: Problem) -> None:
        problem.memory.update(phase="groups", group=max(1.0, problem.l0 / 2), queue=[], kept_in_pass=False,
                              amplified=False)  # the passes' state stays idle until phase 3

    def propose(self, problem: Problem) -> Proposal | None:
        memory = problem.memory
        taken = np.flatnonzero(problem.taken)
        if memory["phase"] == "groups":
            size = int(round(memory["group"]))
            if size >= 2 and size < len(taken):
                return problem.reverted(problem.rng.choice(taken, size, replace=False), "group")
            if not memory["amplified"]:
                memory["phase"] = "amplify"
            else:
                memory["phase"] = "passes"
                restart_passes(problem)
        if memory["phase"] == "passes":
            single = next_single(problem, "single")
            if single is not None:
                return single
            memory["phase"] = "trades"
        if memory["phase"] == "amplify":
            return Proposal(problem.taken, amplified(problem.donor, problem.spoof), move="amplify")
        return self._trade(problem, taken)

    def learn(self, problem: Problem, proposal: Proposal, live: bool) -> None:
        memory = problem.memory
        if proposal.move == "group":
            memory["group"] = memory["group"] * 2 if live else memory["group"] / 2
        elif proposal.move == "single":
            passed(problem, live)
        elif proposal.move == "amplify":
            memory["amplified"] = True
            if live:
                memory.update(phase="groups", group=max(1.0, problem.l0 / 4))
            else:
                memory["phase"] = "trades"
        elif proposal.move == "trade" and live:
            memory["phase"] = "passes"
            restart_passes(problem)

    @staticmethod
    def _trade(problem: Problem, taken: np.ndarray) -> Proposal | None:
        if len(taken) < 2:
            return None
        rng = problem.rng
        state = problem.taken.copy()
        state[rng.choice(taken, 2, replace=False)] = False
        free = np.flatnonzero(~problem.taken)
        place = free[rng.integers(len(free))]
        state[place] = True
        donor = problem.donor.copy()
        donor[place] = CORNERS[rng.integers(len(CORNERS))]
        if (donor[place] == problem.spoof[place]).all():
            donor[place] = 255 - donor[place]
        return Proposal(state, donor, move="trade")


@register_attack("sparse-evo", description="decision-based L0: from a live start image, put its pixels back "
                 "in groups, amplify, trade (after SparseEvo, Vo et al. 2022)", smoke={"queries": 120})
class SparseEvoAttack(DecisionAttack):
    Settings = SparseEvoSettings

    def policy(self) -> Policy:
        return EscapingReversion()
