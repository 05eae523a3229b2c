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

from ...errors import AttackError
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
        order = _argsort_rows(rng.uniform(keys, zero, _Stream.LHS_ORDER, (dim, pop)))
        unit = rng.uniform(keys, zero, _Stream.LHS_JITTER, (dim, pop)).add_(order).div_(pop)  # (order + jitter) / P
        out = torch.empty(len(keys), pop, dim, dtype=self.dtype, device=self.device)
        return out.copy_(unit.transpose(1, 2))  # transpose and narrow in one pass, into a contiguous tensor

    def _trials(self, population: torch.Tensor, energy: torch.Tensor, keys: torch.Tensor,
                generation: torch.Tensor) -> torch.Tensor:
        """Mutation, crossover and bound handling for k problems' generation `generation`."""
        cfg = self.config
        k, pop, dim = population.shape
        picks = self._distinct_indices(rng.uniform(keys, generation, _Stream.PICK, (pop, 3)))
        low, high = cfg.f_range
        f = low if low == high else (
            low + (high - low) * rng.uniform(keys, generation, _Stream.DITHER, (1, 1))).to(self.dtype)
        # The picked members, gathered as whole rows of the (k*P, D) populations: (k, picks, P, D), so
        # each pick's (P, D) block is contiguous for the arithmetic below.
        used = 3 if cfg.strategy is Strategy.RAND1 else 2
        offset = torch.arange(0, k * pop, pop, device=self.device).view(k, 1, 1)
        rows = (picks[..., :used].transpose(1, 2) + offset).reshape(-1)
        members = population.reshape(k * pop, dim).index_select(0, rows).view(k, used, pop, dim)
        # In place, with the same roundings as `base + f * (r_a - r_b)`.
        mutant = (members[:, used - 2] - members[:, used - 1]).mul_(f)
        if cfg.strategy is Strategy.RAND1:
            mutant.add_(members[:, 0])
        else:
            mutant.add_(population[torch.arange(k, device=self.device), energy.argmin(dim=1)].unsqueeze(1))
        if cfg.cr < 1.0:
            take = rng.uniform(keys, generation, _Stream.CROSSOVER, (pop, dim)) < cfg.cr
            forced = (rng.uniform(keys, generation, _Stream.FORCED, (pop, 1)) * dim).long()
            take.scatter_(2, forced, True)
            mutant = torch.where(take, mutant, population)
        self._redraw_outside(mutant, keys, generation)
        return mutant

    def _redraw_outside(self, mutant: torch.Tensor, keys: torch.Tensor, generation: torch.Tensor) -> None:
        """Bound handling, in place: redraw only the coordinates that left [0, 1]. The counter of a
        reset is its (member, coordinate) position, so it does not matter how many others left."""
        outside = (mutant < 0).logical_or_(mutant > 1)
        where = _flat_nonzero(outside)
        if len(where) == 0:
            return
        per_problem = mutant[0].numel()
        problem = where // per_problem
        slot = where - problem * per_problem  # member * D + coordinate
        values = rng.uniform_pairs(keys, generation, _Stream.BOUNDS, problem, slot)
        mutant.view(-1).index_copy_(0, where, values.to(self.dtype))

    def _distinct_indices(self, u: torch.Tensor) -> torch.Tensor:
        """(k, P, 3) uniforms -> member indices r1, r2, r3, distinct and != the member's own index.
        The j-th index is uniform over the P - 1 - j members not yet excluded: draw a rank among them
        and step over the excluded indices in ascending order (kept sorted with min/max, no sort op)."""
        pop = u.shape[1]
        own = torch.arange(pop, device=u.device).view(1, pop)
        # All three ranks in one multiply (the same products as one column at a time); then fixed up in place.
        picks = (u * torch.tensor([pop - 1, pop - 2, pop - 3], dtype=u.dtype, device=u.device)).long()
        r1, r2, r3 = picks.unbind(dim=-1)
        r1 += r1 >= own
        low, high = torch.minimum(own, r1), torch.maximum(own, r1)
        r2 += r2 >= low
        r2 += r2 >= high
        first, last = torch.minimum(low, r2), torch.maximum(high, r2)
        middle = torch.maximum(low, torch.minimum(high, r2))  # the middle one of three distinct values
        for excluded in (first, middle, last):
            r3 += r3 >= excluded
        return picks

    def _check_fitness(self, fitness: torch.Tensor, k: int) -> torch.Tensor:
        fitness = torch.as_tensor(fitness, device=self.device).to(torch.float64)  # ties decided in float64
        if fitness.shape != (k, self.config.population):
            raise ValueError(f"objective returned {tuple(fitness.shape)}, expected {(k, self.config.population)}")
        if torch.isnan(fitness).any():
            raise ValueError("objective returned NaN fitness")
        return fitness


def _argsort_rows(u: torch.Tensor) -> torch.Tensor:
    """`u.argsort(dim=-1)` for uniforms of `rng` (multiples of 2**-53 in [0, 1)).

    On a CPU, torch sorts short rows several times slower than numpy, so numpy sorts there. Each value
    becomes the integer (value * 2**53) * 2**b + its column, all distinct, so numpy's sort is exact and
    deterministic. The order equals torch's whenever a row's values are distinct; two of P 53-bit draws
    are equal with probability about P**2 / 2**54 (1e-11 at P = 400), and then ties go in column order."""
    width = u.shape[-1]
    shift = max(1, (width - 1).bit_length())
    if not rng.numpy_path(u) or 53 + shift > 63:
        return u.argsort(dim=-1)
    column = torch.arange(width, dtype=torch.int64)
    unique = (u * float(1 << 53)).long().bitwise_left_shift_(shift).bitwise_or_(column)
    return torch.from_numpy(np.argsort(unique.numpy(), axis=-1))


def _flat_nonzero(mask: torch.Tensor) -> torch.Tensor:
    """Flat indices of the True entries, ascending. numpy finds them several times faster on a CPU."""
    if rng.numpy_path(mask):
        return torch.from_numpy(np.flatnonzero(mask.numpy()))
    return mask.view(-1).nonzero().squeeze(1)


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
