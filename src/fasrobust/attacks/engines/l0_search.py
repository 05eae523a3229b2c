"""The engine of the decision-based L0 attacks (attack stage): from a start image the target calls live, keep
as few of its pixels as possible while the target keeps calling the image live.

Per image, the state is which pixels come from the donor (`taken`, a boolean per pixel) and the donor's
colours (`donor`: the start image's, which a policy may change); every other pixel is the spoof's. A
policy proposes one candidate state per image per step; all active images' candidates go to the target in
one call; a candidate called live becomes the state (every move keeps or lowers the pixels changed), and
the policy learns from the answer either way. An image stops when its budget is spent, when it reaches
the attack's pixel goal, or when its policy has nothing left to try.

Before that, each image finds its start (`starts.StartPool`): candidates in the image's own seeded
order, one query each, until one is called live. Draws come from the image's own Philox stream
(`rng.image_generator`), so nothing depends on the batch.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..criterion import Criterion

if TYPE_CHECKING:
    import torch

    from ...targets.base import Target
    from ..starts import StartPool


@dataclass
class Proposal:
    taken: np.ndarray  # (P,) bool: pixels from the donor
    donor: np.ndarray | None = None  # (P, 3) uint8 new donor colours, None: unchanged
    move: str = ""  # the kind of move, for the search's counts


@dataclass
class Problem:
    """One image under search. `P` = H * W pixels, flattened."""

    index: int
    spoof: np.ndarray  # (P, 3) uint8
    rng: np.random.Generator
    candidates: np.ndarray  # start pool rows to try, in order
    taken: np.ndarray | None = None
    donor: np.ndarray | None = None
    p_live: float = 0.0  # the answer for the current state
    start_row: int | None = None
    tried_starts: int = 0
    spent: int = 0
    l0_trail: list[tuple[int, int]] = field(default_factory=list)
    score_trail: list[tuple[int, float]] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)  # the policy's own state
    moves: dict[str, list[int]] = field(default_factory=dict)  # move -> [tried, accepted]
    started: float = field(default_factory=time.perf_counter)
    exhausted: bool = False

    @property
    def l0(self) -> int:
        return int(self.taken.sum()) if self.taken is not None else -1

    def paint(self, taken: np.ndarray, donor: np.ndarray | None = None) -> np.ndarray:
        return np.where(taken[:, None], self.donor if donor is None else donor, self.spoof)

    def reverted(self, pixels, move: str) -> Proposal:
        """The current state with `pixels` put back to the spoof's colours."""
        taken = self.taken.copy()
        taken[np.asarray(pixels, dtype=np.int64)] = False
        return Proposal(taken, move=move)

    def differs(self, donor: np.ndarray) -> np.ndarray:
        """Pixels where `donor` differs from the spoof in any channel."""
        return (donor != self.spoof).any(axis=1)


class Policy(ABC):
    """How a decision-based attack moves: `begin` once the start is found, then `propose` and `learn`
    alternately. `propose` returns None when the policy has nothing left to try."""

    def begin(self, problem: Problem) -> None:
        return None  # most policies keep no state beyond the problem's

    @abstractmethod
    def propose(self, problem: Problem) -> Proposal | None:
        """The next candidate state for this image."""

    @abstractmethod
    def learn(self, problem: Problem, proposal: Proposal, live: bool) -> None:
        """Called after the target answered the proposal (the engine already took it when live)."""


def restart_passes(problem: Problem) -> None:
    """Begin single-pixel passes afresh (as if the last pass had kept something)."""
    problem.memory.update(queue=[], kept_in_pass=True)


def next_single(problem: Problem, move: str) -> Proposal | None:
    """Single-pixel passes, a move more than one policy makes: the next taken pixel of the current pass put
    back alone; a new pass, in a fresh order from the image's stream, when the last one kept something; None
    when a whole pass kept nothing (no single pixel can go back). The policy's `learn` calls `passed`."""
    memory = problem.memory
    if not memory["queue"]:
        if not memory["kept_in_pass"]:
            return None
        memory.update(queue=list(problem.rng.permutation(np.flatnonzero(problem.taken))), kept_in_pass=False)
    return problem.reverted([memory["queue"].pop()], move) if memory["queue"] else None


def passed(problem: Problem, live: bool) -> None:
    """What a single-pixel reversion's answer tells the pass."""
    problem.memory["kept_in_pass"] |= live


@dataclass
class Outcome:
    problem: Problem
    found_start: bool
    start_id: int | None
    l0_trail: np.ndarray
    score_trail: np.ndarray
    perturbation: np.ndarray  # (d, 5) rows x, y, r, g, b of the donor pixels taken
    goal_met: bool


def search(target: Target, originals: torch.Tensor, keys: torch.Tensor, p_before: np.ndarray, *, policy: Policy,
           starts: StartPool, ids: Sequence[int], subjects: Sequence[Any] | None, tries: int, limit: int, goal: int,
           criterion: Criterion, capacity: int, on_done: Callable[[Outcome], None]) -> None:
    """Run `policy` on every image of `originals` (uint8 (n, H, W, 3), none called live) for at most `limit`
    queries each; `goal` > 0 stops an image once at most that many pixels differ."""
    import torch

    from .rng import image_generator

    n, h, w, _ = originals.shape
    host = originals.cpu().numpy().reshape(n, h * w, 3)
    donors = starts.images.reshape(len(starts.images), h * w, 3)
    waiting = [Problem(index=i, spoof=host[i], rng=(rng := image_generator(int(keys[i]))),
                       candidates=starts.candidates(rng, None if subjects is None else subjects[i], tries, int(ids[i])),
                       p_live=float(p_before[i])) for i in range(n)]
    waiting.reverse()
    active: list[Problem] = []
    while waiting or active:
        while waiting and len(active) < capacity:
            active.append(waiting.pop())
        proposals: list[Proposal | None] = []
        batch = np.empty((len(active), h * w, 3), dtype=np.uint8)
        for j, problem in enumerate(active):
            if problem.start_row is None:
                proposals.append(None)
                batch[j] = donors[problem.candidates[problem.tried_starts]]
            else:
                proposal = policy.propose(problem)
                proposals.append(proposal)
                batch[j] = problem.paint(proposal.taken, proposal.donor) if proposal else problem.spoof
        asking = np.array([p.start_row is None or proposals[j] is not None for j, p in enumerate(active)])
        answers = np.zeros(len(active))
        if asking.any():
            images = torch.from_numpy(batch[asking].reshape(-1, h, w, 3)).to(target.device)
            answers[asking] = np.asarray(target(images).double().cpu().numpy())
        still = []
        for j, problem in enumerate(active):
            if asking[j]:
                _answered(problem, proposals[j], float(answers[j]), criterion, policy, donors)
            else:
                problem.exhausted = True
            found = problem.start_row is not None
            out_of_starts = not found and problem.tried_starts >= len(problem.candidates)
            if (problem.spent >= limit or out_of_starts or problem.exhausted
                    or (found and goal > 0 and problem.l0 <= goal)):
                on_done(_outcome(problem, starts, w, goal))
            else:
                still.append(problem)
        active = still


def _answered(problem: Problem, proposal: Proposal | None, answer: float, criterion: Criterion, policy: Policy,
              donors: np.ndarray) -> None:
    problem.spent += 1
    live = bool(criterion.is_live(answer))
    if proposal is None:  # a start candidate
        row = problem.candidates[problem.tried_starts]
        problem.tried_starts += 1
        if live:
            problem.start_row, problem.p_live = int(row), answer
            problem.donor = donors[row].copy()
            problem.taken = problem.differs(problem.donor)
            problem.l0_trail.append((problem.spent, problem.l0))
            problem.score_trail.append((problem.spent, 1.0 - answer))
            policy.begin(problem)
        return
    counts = problem.moves.setdefault(proposal.move, [0, 0])
    counts[0] += 1
    if live:
        counts[1] += 1
        before = problem.l0
        problem.taken = proposal.taken
        if proposal.donor is not None:
            problem.donor = proposal.donor
        problem.p_live = answer
        if problem.l0 != before:
            problem.l0_trail.append((problem.spent, problem.l0))
        problem.score_trail.append((problem.spent, 1.0 - answer))
    policy.learn(problem, proposal, live)


def _outcome(problem: Problem, starts: StartPool, width: int, goal: int) -> Outcome:
    found = problem.start_row is not None
    if not found:
        return Outcome(problem, False, None, np.zeros((0, 2)), np.array([[problem.spent, 1.0 - problem.p_live]]),
                       np.zeros((0, 5), dtype=np.int64), False)
    places = np.flatnonzero(problem.taken)
    rows = np.column_stack([places % width, places // width, problem.donor[places].astype(np.int64)])
    last = (problem.spent, problem.l0)
    l0 = problem.l0_trail + ([last] if problem.l0_trail[-1][0] != problem.spent else [])
    scores = problem.score_trail + ([(problem.spent, problem.score_trail[-1][1])]
                                    if problem.score_trail[-1][0] != problem.spent else [])
    return Outcome(problem, True, int(starts.ids[problem.start_row]), np.array(l0, dtype=np.float64),
                   np.array(scores, dtype=np.float64), rows.astype(np.int64), goal <= 0 or problem.l0 <= goal)
