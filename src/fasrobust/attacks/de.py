"""Batched differential evolution: the engine under the few-pixel attack (attack stage).

Many independent minimisation problems (one per attacked image) run side by side. Their populations
live in one tensor on the target's device; mutation, crossover, bound handling and selection are
tensor expressions over all of them; one objective call scores every active problem's candidates.
Problems are admitted into a fixed number of slots and leave the moment they are solved, so a slot
freed by a finished image is refilled by the next one (continuous batching, no straggler tail).

The algorithm is scipy's `differential_evolution` with `updating='deferred'` (what scipy uses with
`vectorized=True`), on the unit cube [0, 1]^D:
- start: a Latin hypercube of `population` points (the total population, not scipy's multiplier of D);
- mutation: rand1 `v = p_r1 + F (p_r2 - p_r3)` or best1 `v = p_best + F (p_r1 - p_r2)`, the indices
  distinct and different from the parent's; F fixed, or dithered per problem and generation when given
  as a (low, high) range (scipy dithers once per generation);
- crossover: binomial with probability CR and one forced coordinate; CR = 1 takes the mutant whole;
- bounds: a coordinate that leaves [0, 1] is redrawn uniformly (scipy's rule);
- selection: the child replaces its parent when its fitness is lower OR EQUAL (scipy's `<=`; the paper
  writes `<`). On a piecewise-constant objective, such as a classifier read through 8-bit pixels,
  accepting ties lets the population drift across plateaus instead of freezing on them.
Fitness after the start and after each generation (the best in the population) is kept per problem.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import torch

from ..errors import AttackError
from . import rng
from .de_config import DEConfig, Strategy

__all__ = ["BatchedDE", "DEConfig", "DEOutcome", "Step", "Strategy", "minimize"]


class _Stream(IntEnum):
    """Which kind of draw a random number is for (part of its counter)."""

    LHS_ORDER = 0
    LHS_JITTER = 1
    PICK = 2
    CROSSOVER = 3
    FORCED = 4
    BOUNDS = 5
    DITHER = 6


@dataclass(frozen=True)
class Step:
    """What the objective is asked to score in one call: k active problems, P candidates each."""

    problems: torch.Tensor  # (k,) problem indices
    slots: torch.Tensor  # (k,) their slots, ascending, stable while a problem is active
    fresh: torch.Tensor  # (k,) bool: the problem entered its slot with this call (its start population)
    candidates: torch.Tensor  # (k, P, D) points of the unit cube
    dense: bool  # slots are exactly 0..k-1 (every slot busy): slot-indexed buffers can be sliced, not gathered


#: objective(step) -> (k, P) fitness to minimise
Objective = Callable[[Step], torch.Tensor]


@dataclass(frozen=True)
class DEOutcome:
    """One problem's result. `history[g]` is the best fitness after generation g (0 = the start)."""

    problem: int
    x: np.ndarray  # (D,) best point of the unit cube
    fitness: float
    history: np.ndarray
    generations: int
    evaluations: int  # population * (generations + 1)
    wall_time_s: float  # from entering a slot to leaving it


class BatchedDE:
    """Minimise many problems of dimension `dim` at once; see the module docstring for the rules."""

    def __init__(self, config: DEConfig, *, dim: int, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float64):
        """`dtype` of the populations: float64 by default (scipy's); float32 is plenty where the point
        is decoded into a few hundred bins, and halves the memory traffic of every operator."""
        if dim < 1:
            raise AttackError(f"DE needs at least one dimension, got {dim}")
        self.config = config
        self.dim = int(dim)
        self.device = torch.device(device)
        self.dtype = dtype

    def minimize(self, objective: Objective, keys: torch.Tensor, *, stop_at: float | None = None,
                 capacity: int | None = None,
                 on_done: Callable[[DEOutcome], None] | None = None) -> list[DEOutcome]:
        """Run every problem (one per key) until its best fitness is <= `stop_at` or the iteration
        budget is spent. At most `capacity` problems are active at once (default: all)."""
        n, pop, dim = len(keys), self.config.population, self.dim
        cap = max(1, min(n, capacity or n))
        keys = keys.to(self.device)
        state = _State(cap, pop, dim, self.device, self.dtype)
        pending = list(range(n - 1, -1, -1))  # popped from the end: problem 0 first
        history: list[list[float]] = [[] for _ in range(n)]
        outcomes: list[DEOutcome | None] = [None] * n
        started = [0.0] * n
        while True:
            for slot in state.free_slots():
                if not pending:
                    break
                problem = pending.pop()
                state.admit(slot, problem)
                started[problem] = time.perf_counter()
            slots = state.active_slots()
            if len(slots) == 0:
                break
            dense = state.dense(slots)
            at = slice(0, len(slots)) if dense else slots  # a view instead of a gather when possible
            problems, fresh, gen = state.problem[at], state.fresh[at], state.generation[at]
            n_fresh = int(fresh.sum())
            if n_fresh == 0:
                candidates = self._trials(state.population[at], state.energy[at], keys[problems], gen + 1)
            else:
                candidates = torch.empty(len(slots), pop, dim, dtype=self.dtype, device=self.device)
                candidates[fresh] = self._latin_hypercube(keys[problems[fresh]])
                if n_fresh < len(slots):
                    old = slots[~fresh]
                    candidates[~fresh] = self._trials(state.population[old], state.energy[old],
                                                      keys[problems[~fresh]], gen[~fresh] + 1)
            fitness = objective(Step(problems, slots, fresh, candidates, dense))
            fitness = self._check_fitness(fitness, len(slots))
            best = state.select(at, fresh, candidates, fitness).cpu().numpy()
            gens = state.generation[at].cpu().numpy()
            for j, problem in enumerate(problems.cpu().tolist()):
                history[problem].append(float(best[j]))
                if (stop_at is not None and best[j] <= stop_at) or gens[j] >= self.config.iterations:
                    slot = int(slots[j])
                    outcomes[problem] = out = DEOutcome(
                        problem=problem, x=state.best_x(slot), fitness=float(best[j]),
                        history=np.asarray(history[problem]), generations=int(gens[j]),
                        evaluations=pop * (int(gens[j]) + 1), wall_time_s=time.perf_counter() - started[problem])
                    state.release(slot)
                    if on_done is not None:
                        on_done(out)
        return [o for o in outcomes if o is not None]

    # ----- the operators ----------------------------------------------------------------------
    def _latin_hypercube(self, keys: torch.Tensor) -> torch.Tensor:
        """(k, P, D): in every dimension, one point in each of P equal strata, strata shuffled."""
        pop, dim = self.config.population, self.dim
        zero = torch.zeros(len(keys), dtype=torch.int64, device=self.device)
        order = rng.uniform(keys, zero, _Stream.LHS_ORDER, (dim, pop)).argsort(dim=-1)
        jitter = rng.uniform(keys, zero, _Stream.LHS_JITTER, (dim, pop))
        return ((order + jitter) / pop).transpose(1, 2).to(self.dtype)

    def _trials(self, population: torch.Tensor, energy: torch.Tensor, keys: torch.Tensor,
                generation: torch.Tensor) -> torch.Tensor:
        """Mutation, crossover and bound handling for k problems' generation `generation`."""
        cfg = self.config
        k, pop, dim = population.shape
        picks = self._distinct_indices(rng.uniform(keys, generation, _Stream.PICK, (pop, 3)))
        low, high = cfg.f_range
        f = low if low == high else (
            low + (high - low) * rng.uniform(keys, generation, _Stream.DITHER, (1, 1))).to(self.dtype)
        # One gather for all three picks: (k, P, 3, D).
        members = population.gather(1, picks.view(k, pop * 3, 1).expand(k, pop * 3, dim)).view(k, pop, 3, dim)
        if cfg.strategy is Strategy.RAND1:
            mutant = members[:, :, 0] + f * (members[:, :, 1] - members[:, :, 2])
        else:
            best = population[torch.arange(k, device=self.device), energy.argmin(dim=1)].unsqueeze(1)
            mutant = best + f * (members[:, :, 0] - members[:, :, 1])
        if cfg.cr < 1.0:
            take = rng.uniform(keys, generation, _Stream.CROSSOVER, (pop, dim)) < cfg.cr
            forced = (rng.uniform(keys, generation, _Stream.FORCED, (pop, 1)) * dim).long()
            take.scatter_(2, forced, True)
            mutant = torch.where(take, mutant, population)
        which = ((mutant < 0) | (mutant > 1)).nonzero(as_tuple=True)
        if len(which[0]):
            # Redraw only where needed: the counter of a reset is its (member, coordinate) position,
            # so it does not matter how many other coordinates happened to leave the cube.
            slot = which[1] * dim + which[2]
            mutant[which] = rng.uniform_at(keys[which[0]], generation[which[0]], _Stream.BOUNDS,
                                           slot).to(self.dtype)
        return mutant

    def _distinct_indices(self, u: torch.Tensor) -> torch.Tensor:
        """(k, P, 3) uniforms -> member indices r1, r2, r3, distinct and != the member's own index.
        The j-th index is uniform over the P - 1 - j members not yet excluded: draw a rank among them
        and step over the excluded indices in ascending order (kept sorted with min/max, no sort op)."""
        pop = u.shape[1]
        own = torch.arange(pop, device=u.device).view(1, pop)
        r1 = (u[..., 0] * (pop - 1)).long()
        r1 += r1 >= own
        low, high = torch.minimum(own, r1), torch.maximum(own, r1)
        r2 = (u[..., 1] * (pop - 2)).long()
        r2 += r2 >= low
        r2 += r2 >= high
        first, last = torch.minimum(low, r2), torch.maximum(high, r2)
        middle = own + r1 + r2 - first - last
        r3 = (u[..., 2] * (pop - 3)).long()
        for excluded in (first, middle, last):
            r3 += r3 >= excluded
        return torch.stack([r1, r2, r3], dim=-1)

    def _check_fitness(self, fitness: torch.Tensor, k: int) -> torch.Tensor:
        fitness = torch.as_tensor(fitness, device=self.device).to(torch.float64)  # ties decided in float64
        if fitness.shape != (k, self.config.population):
            raise ValueError(f"objective returned {tuple(fitness.shape)}, expected {(k, self.config.population)}")
        if torch.isnan(fitness).any():
            raise ValueError("objective returned NaN fitness")
        return fitness


class _State:
    """Per-slot populations, energies and generation counters (fixed capacity)."""

    def __init__(self, capacity: int, pop: int, dim: int, device: torch.device, dtype: torch.dtype):
        self.population = torch.zeros(capacity, pop, dim, dtype=dtype, device=device)
        self.energy = torch.full((capacity, pop), torch.inf, dtype=torch.float64, device=device)
        self.generation = torch.zeros(capacity, dtype=torch.int64, device=device)
        self.problem = torch.full((capacity,), -1, dtype=torch.int64, device=device)
        self.fresh = torch.zeros(capacity, dtype=torch.bool, device=device)
        self._free = list(range(capacity))

    def free_slots(self) -> list[int]:
        return sorted(self._free)

    def active_slots(self) -> torch.Tensor:
        return (self.problem >= 0).nonzero().squeeze(1)

    def dense(self, slots: torch.Tensor) -> bool:
        return len(self._free) == 0 or bool(slots[-1] == len(slots) - 1)

    def admit(self, slot: int, problem: int) -> None:
        self._free.remove(slot)
        self.problem[slot], self.fresh[slot], self.generation[slot] = problem, True, 0

    def release(self, slot: int) -> None:
        self.problem[slot] = -1
        self._free.append(slot)

    def select(self, slots: torch.Tensor | slice, fresh: torch.Tensor, candidates: torch.Tensor,
               fitness: torch.Tensor) -> torch.Tensor:
        """Greedy selection (a fresh slot takes its start population whole); returns best per slot."""
        accept = fresh.unsqueeze(1) | (fitness <= self.energy[slots])
        self.population[slots] = torch.where(accept.unsqueeze(-1), candidates, self.population[slots])
        energy = torch.where(accept, fitness, self.energy[slots])
        self.energy[slots] = energy
        self.generation[slots] += (~fresh).long()
        self.fresh[slots] = False
        return energy.min(dim=1).values

    def best_x(self, slot: int) -> np.ndarray:
        return self.population[slot, self.energy[slot].argmin()].cpu().numpy().copy()


def minimize(func: Callable[[np.ndarray], np.ndarray], bounds: Sequence[tuple[float, float]], *,
             seeds: Sequence[int], config: DEConfig) -> list[DEOutcome]:
    """Minimise a vectorised function `func((m, D) array) -> (m,)` over box `bounds`, once per seed,
    all runs batched into each call. For checking the engine against scipy, and for any user objective.
    Outcomes' `x` are in the original bounds."""
    lo, hi = np.asarray(bounds, dtype=np.float64).T
    if lo.shape[0] < 1 or not np.all(hi > lo):
        raise AttackError("bounds need low < high in every dimension")
    engine = BatchedDE(config, dim=len(lo))
    width = torch.from_numpy(hi - lo)
    base = torch.from_numpy(lo)

    def objective(step: Step) -> torch.Tensor:
        k, pop, dim = step.candidates.shape
        points = (base + step.candidates * width).reshape(k * pop, dim).numpy()
        return torch.as_tensor(np.asarray(func(points), dtype=np.float64)).view(k, pop)

    outcomes = engine.minimize(objective, rng.problem_keys(0, seeds))
    return [DEOutcome(o.problem, lo + o.x * (hi - lo), o.fitness, o.history, o.generations, o.evaluations,
                      o.wall_time_s) for o in outcomes]
