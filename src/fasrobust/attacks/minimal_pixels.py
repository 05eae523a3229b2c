"""`pixels: auto` for the score-based attacks (attack stage): each image's smallest pixel count, searched with
the attack itself within the image's whole budget.

Per image: attempts at k = 1, 2, 4, ... (doubling) until one succeeds, then bisection between the largest
k that failed and the smallest that succeeded, until they are adjacent. Each attempt is the attack at k
with the largest budget that costs at most 1/AUTO_ATTEMPT_SHARE of the image's queries (its clean query
included), and the search stops when the next attempt would not fit in what is left. The smallest k that
succeeded is an upper bound on the image's minimal L0 (a failed attempt does not prove that k cannot
work, only that this attack did not find it at that budget); its re-verified perturbation is the
result, and `extra["attempts"]` lists every attempt as [k, success, queries].

Attempts of the images that are at the same k in the same round run as one batch, with the image's own
(seed, id) stream, so a result does not depend on the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from .pixel import MAX_PIXELS
from .result import AttackResult
from .settings_model import AUTO_ATTEMPT_SHARE

if TYPE_CHECKING:
    import torch

    from ..targets.base import Target
    from .base import Attack, ResultCallback


@dataclass
class _Search:
    failed: int = 0  # the largest k that failed
    succeeded: int | None = None  # the smallest k that succeeded
    spent: int = 0
    best: AttackResult | None = None
    last: AttackResult | None = None
    attempts: list[list] = field(default_factory=list)
    l0: list[tuple[int, int]] = field(default_factory=list)
    wall: float = 0.0

    def next_k(self, largest: int) -> int | None:
        if self.succeeded is None:
            k = 1 if not self.attempts else min(2 * self.attempts[-1][0], largest)
            return None if self.attempts and k <= self.attempts[-1][0] else k
        return None if self.succeeded - self.failed <= 1 else (self.failed + self.succeeded) // 2


def run_minimal_pixels(attack: Attack, target: Target, batch: torch.Tensor, *, seed: int, ids: np.ndarray,
                       on_result: ResultCallback | None) -> list[AttackResult]:
    """`attack` (settings with pixels 'auto') on every image of `batch`; results in input order."""
    settings = attack.config
    total = settings.query_budget()
    share = max(1, total // AUTO_ATTEMPT_SHARE)
    h, w = batch.shape[1:3]
    largest = min(MAX_PIXELS, h * w // 2)
    searches = [_Search() for _ in range(len(ids))]
    open_images = list(range(len(ids)))
    while open_images:
        rounds: dict[tuple[int, int], list[int]] = {}
        still = []
        for i in open_images:
            search = searches[i]
            k = search.next_k(largest)
            fitting = settings.attempt(k, min(share, total - search.spent)) if k else None
            if fitting is None or (search.best is not None and search.best.already_live):
                continue
            rounds.setdefault((k, int(getattr(fitting, settings.budget_field))), []).append(i)
            still.append(i)
        for (k, _), images in rounds.items():
            fitting = settings.attempt(k, min(share, total - searches[images[0]].spent))
            one = type(attack)(fitting, max_active=attack.max_active, verify=attack.verify)
            for i, result in zip(images, one.run(target, batch[images], seed=seed, ids=ids[images]), strict=True):
                _learn(searches[i], k, result)
        open_images = still
    results = [_result(s, i, total, seed) for i, s in enumerate(searches)]
    for result in results:
        if on_result is not None:
            on_result(result)
    return results


def _learn(search: _Search, k: int, result: AttackResult) -> None:
    search.spent += result.queries
    search.wall += result.wall_time_s
    search.attempts.append([k, bool(result.success), int(result.queries)])
    search.last = result
    if result.success:
        search.succeeded = k
        search.best = result
        search.l0.append((search.spent, int(result.pixels_changed)))
    else:
        search.failed = max(search.failed, k)


def _result(search: _Search, index: int, total: int, seed: int) -> AttackResult:
    chosen = search.best or search.last
    l0 = np.array(search.l0, dtype=np.float64).reshape(-1, 2)
    return replace(chosen, index=index, queries=search.spent, query_budget=total, seed=seed,
                   wall_time_s=search.wall, l0_trajectory=l0,
                   trajectory=np.array([[search.spent, 1.0 - chosen.p_live_after]]),
                   extra={**chosen.extra, "attempts": search.attempts,
                          "smallest_pixels": search.succeeded if search.best is not None else None})

