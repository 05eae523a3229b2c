"""Sparse-RS, the query-efficient L0 attack (Croce, Andriushchenko, Singh, Flammarion, Hein, AAAI 2022),
on the attack contract of `base.py`: a random search over k pixel positions and their colours, one
candidate per image per query. The second attack beside the paper's DE (`pixel.py`); it shares its
criterion, query accounting and PNG re-verification through `Attack.run`.

Per image, the state is k distinct pixel positions with colours; everything else stays original.
- Query 1 of the search: k random distinct positions, each with a random colour: a corner of the
  8-bit colour cube {0, 255}^3 (`colours="corners"`, the paper) or any 8-bit value (`"any"`).
- Each later iteration i: m(i) = max(1, round(p(i) * k)) of the k pixels move to positions outside the
  current set, with new colours (the moved-away pixels return to their original colour). The candidate
  is accepted when the spoof confidence 1 - P(live) does not increase (<=, unlike the authors' strict <):
  a model read through 8-bit pixels is flat almost everywhere, and taking ties lets the search drift
  across those plateaus instead of staying at its first point.
- An image stops the moment a candidate is called live (the target's criterion) or its budget is spent.

The schedule for p: p_init (default 0.3, the authors' `eval.py` for L0) divided by 2, 4, 5, 6, 8, 10, 12,
15 and 20 after 0, 50, 200, 500, 1,000, 2,000, 4,000, 6,000 and 8,000 iterations of a 10,000-query
run, as their L0 schedule. The authors rescale the iteration to their budget (i * 10,000 / budget), so
the same iteration draws a different m under different budgets and a short run is not the start of a
long one. Here the schedule is laid out for `schedule_queries` (default 10,000, where the published
numbers were measured; 0 = the budget itself, the authors' rescaling, at the cost of the prefix
property): a setting of its own, not the budget, so `queries` only decides where a run stops. A grid
over budgets then runs once at the largest and reads the others off its trajectories, exactly.

Randomness: every draw of image i at iteration t comes from `rng.uniform(key_i, t, stream, ...)`, a
counter-based stream of (seed, image id, t), so results do not depend on the batch, on `max_active`,
or on when an image entered the batch. Queries: 1 (the clean image, in `Attack.run`) + 1 per
iteration, counted exactly; `queries` is the whole per-image budget.

Batching: all active images' candidates go to the target in ONE call per iteration; finished images
leave and waiting ones take their place (at most `max_active` side by side). A candidate is a copy of
its original with k pixels written in by one indexed write (positions are distinct within an image),
so the attack's own work per query is one image copy and a few small vectorised ops over k.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import numpy as np
from pydantic import Field, field_validator

from ..errors import AttackError
from .base import Attack, Found, FoundCallback, register_attack
from .criterion import Criterion
from .engines.counter_layout import MAX_GENERATION
from .engines.rows import Rows
from .pixel import MAX_PIXELS
from .settings_model import AttackSettings, Whole, pixel_count

if TYPE_CHECKING:  # torch and the random streams are imported where the attack runs (see base.py)
    import torch

    from ..targets.base import Target

CHANNELS, COLOURS = 3, 256

#: The budget the authors lay their schedule out for (their iteration is rescaled to it).
REFERENCE_QUERIES = 10_000
#: Their L0 schedule: after `bound` iterations (of a 10,000-query run), p = p_init / divisor.
SCHEDULE = ((0, 2), (50, 4), (200, 5), (500, 6), (1000, 8), (2000, 10), (4000, 12), (6000, 15), (8000, 20))
# Separate counter streams, so the draws of one purpose never overlap another's.
_STREAM_SLOTS, _STREAM_PLACES, _STREAM_COLOURS = 0, 1, 2


class Colours(StrEnum):
    CORNERS = "corners"  # {0, 255}^3: the paper's choice, the largest change a pixel can make
    ANY = "any"  # any 8-bit RGB value


class SparseRSSettings(AttackSettings):
    """Sparse-RS's settings; the budget is `queries` per image, the clean image's query included."""

    budget_field = "queries"
    smallest_budget = 2  # the clean query and the random start

    pixels: int | str = Field(9, description="pixels changed per image (k), or auto: each image's smallest k, "
                              "searched within the budget")
    queries: Annotated[Whole, Field(ge=2, le=MAX_GENERATION, description="queries per image, the clean "
                                  "image's included")] = 10_000
    p_init: Annotated[float, Field(gt=0.0, le=1.0, description="initial fraction of the k pixels moved "
                                   "per iteration (the authors' L0: 0.3)")] = 0.3
    colours: Colours = Field(Colours.CORNERS, description="new pixel colours: corners ({0,255}^3, the "
                             "paper) or any (any 8-bit value)")
    schedule_queries: Annotated[Whole, Field(ge=0, le=MAX_GENERATION, description="the budget p's schedule is "
                                           "laid out for (0: the budget itself, the authors' rescaling; "
                                           "breaks the prefix property)")] = REFERENCE_QUERIES

    _pixels = field_validator("pixels", mode="before")(lambda value: pixel_count(value, MAX_PIXELS))

    @field_validator("colours", mode="before")
    @classmethod
    def _colours(cls, value):
        if isinstance(value, str) and value.lower() not in {c.value for c in Colours}:
            raise ValueError(f"colours must be 'corners' or 'any', got {value!r}")
        return value.lower() if isinstance(value, str) else value

    def query_budget(self) -> int:
        return self.queries

    def queries_at(self, budget: int) -> int:
        return int(budget)  # the budget is the query count itself

    def fraction(self, iteration: np.ndarray | int) -> np.ndarray:
        """p at each (0-based) search iteration; iteration 0 is the random start."""
        span = self.schedule_queries or self.queries
        scaled = np.asarray(iteration, dtype=np.int64) * REFERENCE_QUERIES // span
        bounds = np.array([b for b, _ in SCHEDULE])
        divisors = np.array([1] + [d for _, d in SCHEDULE], dtype=np.float64)
        # `scaled` in (b_j, b_{j+1}] takes divisor j; 0 keeps p_init, like the authors' `0 < it <= 50`.
        return self.p_init / divisors[np.searchsorted(bounds, scaled, side="left")]

    def moved(self, iteration: np.ndarray | int) -> np.ndarray:
        """m(i) = max(1, round(p(i) * k)): how many of the k pixels an iteration moves."""
        return np.maximum(1, np.rint(self.fraction(iteration) * self.pixels)).astype(np.int64)


@dataclass
class _Active(Rows):
    """The images being searched, one row each (device tensors, plus host mirrors of what the loop reads)."""

    problem: torch.Tensor  # (c,) index into the originals
    places: torch.Tensor  # (c, k) flat positions y * W + x of the accepted state
    colours: torch.Tensor  # (c, k, 3) their colours (int64)
    best: np.ndarray  # (c,) spoof confidence of the accepted state (inf before the first query)
    best_p: np.ndarray  # (c,) its P(live), as the target returned it
    done: np.ndarray  # (c,) iterations (= search queries) spent
    started: np.ndarray  # (c,) perf_counter when the image entered
    trails: list[list[tuple[int, float]]] = field(default_factory=list)  # change points per row


@register_attack("sparse-rs", description="Sparse-RS, a query-efficient random search over k pixels (Croce et "
                 "al., AAAI 2022)", smoke={"pixels": 2, "queries": 120})
class SparseRSAttack(Attack):
    """Sparse-RS few-pixel random search. `max_active` caps how many images are searched side by side
    (default: as many as fit the batch memory); it changes the speed, never the results."""

    Settings = SparseRSSettings

    def _search(self, target: Target, originals: torch.Tensor, *, keys: torch.Tensor, p_before: np.ndarray,
                criterion: Criterion, on_found: FoundCallback) -> None:
        n, h, w, _ = originals.shape
        k = self.config.pixels
        if h * w < 2 * k:
            raise AttackError(f"sparse-rs: a {w}x{h} image has too few pixels to move {k} of them "
                              f"(needs at least {2 * k})")
        limit = self.config.queries - 1  # the clean query is spent already
        cap = self.capacity(n, h * w * CHANNELS, target.device)
        active, waiting = self._empty(target.device), 0
        while waiting < n or len(active.problem):
            if len(active.problem) < cap and waiting < n:
                admitted = min(cap - len(active.problem), n - waiting)
                active = active.join(self._admit(range(waiting, waiting + admitted), target.device))
                waiting += admitted
            active = self._step(target, originals, keys, active)
            finished = (active.done >= limit) | criterion.is_live(active.best_p)
            for row in np.flatnonzero(finished):
                on_found(self._found(active, row, w))
            active = active.take(np.flatnonzero(~finished))

    # ----- one iteration for every active image --------------------------------------------------------
    def _step(self, target: Target, originals: torch.Tensor, keys: torch.Tensor, active: _Active) -> _Active:
        import torch

        places, colours = self._candidates(keys[active.problem], active, originals.shape[1] * originals.shape[2])
        p_live = target(_paint(originals, active.problem, places, colours)).double().cpu().numpy()
        score = 1.0 - p_live
        accept = score <= active.best  # the first query (best = inf) is always taken
        for row in np.flatnonzero(score < active.best):
            active.trails[row].append((int(active.done[row]) + 1, float(score[row])))
        keep = torch.as_tensor(accept, device=places.device)
        active.places = torch.where(keep[:, None], places, active.places)
        active.colours = torch.where(keep[:, None, None], colours, active.colours)
        active.best = np.where(accept, score, active.best)
        active.best_p = np.where(accept, p_live, active.best_p)
        active.done = active.done + 1
        return active

    def _candidates(self, keys: torch.Tensor, active: _Active, area: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's candidate: its random start on its first query, else its state with m pixels moved."""
        import torch

        from .engines.rng import uniform

        k, device = self.config.pixels, keys.device
        done = torch.as_tensor(active.done, device=device)
        new_colours = self._colours(uniform(keys, done, _STREAM_COLOURS, (k, CHANNELS)).to(device))
        spots = uniform(keys, done, _STREAM_PLACES, (k,)).to(device)
        places, colours = active.places.clone(), active.colours.clone()
        fresh = active.done == 0
        if fresh.any():
            rows = torch.as_tensor(np.flatnonzero(fresh), device=device)
            places[rows] = _free_places(spots[rows], taken=places[rows][:, :0], count=k, area=area)
            colours[rows] = new_colours[rows]
        if (~fresh).any():
            rows = torch.as_tensor(np.flatnonzero(~fresh), device=device)
            moved = torch.as_tensor(self.config.moved(active.done[~fresh]), device=device)
            order = uniform(keys[rows], done[rows], _STREAM_SLOTS, (k,)).to(device).argsort(dim=1)
            rank = order.argsort(dim=1)  # a random permutation of the k slots: slot s moves iff rank < m
            chosen = rank < moved[:, None]
            picks = _free_places(spots[rows], taken=places[rows], count=int(moved.max()), area=area)
            arrivals = picks.gather(1, rank.clamp(max=picks.shape[1] - 1))  # the rank-j slot gets pick j
            places[rows] = torch.where(chosen, arrivals, places[rows])
            colours[rows] = torch.where(chosen[..., None], new_colours[rows], colours[rows])
        return places, colours

    def _colours(self, unit: torch.Tensor) -> torch.Tensor:
        if self.config.colours is Colours.CORNERS:
            return (unit >= 0.5).long() * (COLOURS - 1)
        return (unit * COLOURS).floor().long().clamp_(max=COLOURS - 1)

    # ----- bookkeeping -----------------------------------------------------------------------------------
    def _empty(self, device: torch.device) -> _Active:
        return self._admit(range(0), device)

    def _admit(self, problems: range, device: torch.device) -> _Active:
        import torch

        c, k = len(problems), self.config.pixels
        return _Active(problem=torch.tensor(list(problems), dtype=torch.int64, device=device),
                       places=torch.zeros(c, k, dtype=torch.int64, device=device),
                       colours=torch.zeros(c, k, CHANNELS, dtype=torch.int64, device=device),
                       best=np.full(c, np.inf), best_p=np.zeros(c), done=np.zeros(c, dtype=np.int64),
                       started=np.full(c, time.perf_counter()), trails=[[] for _ in range(c)])

    def _found(self, active: _Active, row: int, width: int) -> Found:
        places = active.places[row].cpu().numpy()
        perturbation = np.column_stack([places % width, places // width, active.colours[row].cpu().numpy()])
        spent = int(active.done[row])
        trail = active.trails[row]
        if trail[-1][0] != spent:  # the last query is a point of the curve even when nothing changed
            trail = trail + [(spent, float(active.best[row]))]
        return Found(problem=int(active.problem[row]), perturbation=perturbation.astype(np.int64),
                     p_live=float(active.best_p[row]), queries=spent, trajectory=np.array(trail, dtype=np.float64),
                     wall_time_s=time.perf_counter() - float(active.started[row]))


def _free_places(unit: torch.Tensor, *, taken: torch.Tensor, count: int, area: int) -> torch.Tensor:
    """(c, count) distinct flat positions in [0, area), none in `taken` (c, t), picked one after another
    uniformly among those still free; pick j uses `unit[:, j]`. No rejection loop: the r-th free position
    is r plus the number of taken positions e_i (sorted) with e_i - i <= r (e_i - i free ones lie below e_i)."""
    import torch

    picks = torch.empty(unit.shape[0], count, dtype=torch.int64, device=unit.device)
    for j in range(count):
        excluded = torch.cat([taken, picks[:, :j]], dim=1).sort(dim=1).values
        free = area - excluded.shape[1]
        r = (unit[:, j] * free).long().clamp_(max=free - 1)
        below = excluded - torch.arange(excluded.shape[1], device=unit.device)
        picks[:, j] = r + (below <= r[:, None]).sum(dim=1)
    return picks


def _paint(originals: torch.Tensor, problems: torch.Tensor, places: torch.Tensor,
           colours: torch.Tensor) -> torch.Tensor:
    """Copies of the originals with each row's k pixels written in: one indexed write for the whole
    batch (a row's positions are distinct, so no write has two sources)."""
    import torch

    batch = originals.index_select(0, problems)
    c, h, w, _ = batch.shape
    rows = (torch.arange(c, device=places.device)[:, None] * (h * w) + places).view(-1)
    batch.view(-1, CHANNELS).index_copy_(0, rows, colours.view(-1, CHANNELS).to(torch.uint8))
    return batch
