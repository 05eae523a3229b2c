"""The paper's few-pixel attack (Sections 3.2-3.3): change d pixels of a spoof face so the target
calls it live, searched by the batched DE of `de.py` over d tuples (x, y, r, g, b).

Rules, with the paper's defaults:
- fitness = spoof confidence 1 - P(live); success iff P(live) >= 0.5 (bob's rule: a score equal to
  the threshold is accepted as live), i.e. fitness <= 0.5;
- population 400 is the TOTAL number of candidates per image (Su et al.), not scipy's multiplier;
- CR defaults to 1 (the mutant is taken whole): Su et al.'s one-pixel attack uses no crossover and
  the Keras implementation the paper builds on uses CR = 1, so results stay comparable to theirs;
- candidates are integer pixels and 8-bit colours (see `canvas.decode`), so every adversarial image
  is a real 8-bit image;
- queries, counted exactly per image: 1 (the clean image, telling whether it is already live)
  + population (the start) + population per generation run. An image stops the moment one of its
  candidates is called live, so nothing is spent on a separate stopping check. Already-live images
  are successes after that first query alone (the paper's recall-after-attack counts every spoof);
- every success is re-verified through a PNG round trip (`verify.py`); the check's query is counted
  in `extra["verification_queries"]`, not in `queries`. An already-live image is not re-verified
  (nothing was changed) and keeps `verified=None`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import AttackError
from ..targets.base import Target
from .base import Attack, ResultCallback, register_attack
from .canvas import Canvas, decode
from .de import BatchedDE, DEConfig, DEOutcome, Step, Strategy
from .result import AttackResult, apply_perturbation
from .rng import problem_keys
from .verify import LIVE_THRESHOLD, verify_adversarial

#: Memory for candidate images when `max_active` is not given: 256 MiB on a CPU keeps them in a few
#: big pages (the model's own chunking by max_batch decides cache behaviour); 2 GiB on a GPU.
_CANVAS_BYTES = {"cpu": 256 << 20, "cuda": 2 << 30}
#: The paper attacks 1 to 9 pixels; more is allowed but this caps silly values.
MAX_PIXELS = 1024


@register_attack("pixel")
class PixelAttack(Attack):
    """Few-pixel DE attack. `f` is F, or a (low, high) range to dither it; `max_active` caps how
    many images are attacked side by side (default: as many as fit the canvas memory)."""

    def __init__(self, *, pixels: int = 9, population: int = 400, iterations: int = 200,
                 f: float | tuple[float, float] = 0.5, cr: float = 1.0, strategy: Strategy | str = Strategy.RAND1,
                 max_active: int | None = None, verify: bool = True):
        if isinstance(pixels, bool) or int(pixels) != pixels or not 1 <= pixels <= MAX_PIXELS:
            raise AttackError(f"pixels must be an integer from 1 to {MAX_PIXELS} (the paper uses 1-9), got {pixels}")
        if max_active is not None and max_active < 1:
            raise AttackError(f"max_active must be >= 1, got {max_active}")
        self.pixels = int(pixels)
        self.de = DEConfig(population=population, iterations=iterations,
                           f=tuple(f) if isinstance(f, list | tuple) else float(f), cr=float(cr),
                           strategy=Strategy.parse(strategy))
        self.max_active = max_active
        self.verify = bool(verify)

    @property
    def population(self) -> int:
        return self.de.population

    @property
    def iterations(self) -> int:
        return self.de.iterations

    def settings(self) -> dict:
        f = list(self.de.f) if isinstance(self.de.f, tuple) else self.de.f
        return {"pixels": self.pixels, "population": self.de.population, "iterations": self.de.iterations,
                "f": f, "cr": self.de.cr, "strategy": self.de.strategy.value}

    def capacity(self, n: int, height: int, width: int, device: torch.device) -> int:
        if self.max_active is not None:
            return min(n, self.max_active)
        budget = _CANVAS_BYTES.get(device.type, _CANVAS_BYTES["cpu"])
        return int(max(1, min(n, budget // (self.de.population * height * width * 3))))

    def _run(self, target: Target, images: torch.Tensor, *, seed: int, ids: np.ndarray,
             on_result: ResultCallback | None) -> list[AttackResult]:
        images = images.to(target.device)
        n, h, w, _ = images.shape
        p_before = target(images).double().cpu().numpy()
        results: list[AttackResult | None] = [None] * n
        todo = [i for i in range(n) if p_before[i] < LIVE_THRESHOLD]
        for i in range(n):
            if p_before[i] >= LIVE_THRESHOLD:
                results[i] = self._already_live(i, float(p_before[i]), seed)
                if on_result is not None:
                    on_result(results[i])
        if not todo:
            return results
        originals = images[todo]
        canvas = Canvas(originals, capacity=self.capacity(len(todo), h, w, target.device),
                        population=self.de.population)
        host_originals = originals.cpu().numpy()

        def objective(step: Step) -> torch.Tensor:
            if step.fresh.any():
                canvas.load(step.slots[step.fresh], step.problems[step.fresh])
            pixels = decode(step.candidates, h, w)
            batch = canvas.paint(step.slots, pixels, dense=step.dense)
            try:
                p_live = target(batch)
            finally:
                canvas.restore()
            return 1.0 - p_live.double().view(len(step.slots), -1)

        def finish(outcome: DEOutcome) -> None:
            i = todo[outcome.problem]
            results[i] = self._result(target, i, outcome, host_originals[outcome.problem], h, w,
                                      float(p_before[i]), seed)
            if on_result is not None:
                on_result(results[i])

        # float32 populations: a coordinate is decoded into at most a few hundred bins.
        engine = BatchedDE(self.de, dim=5 * self.pixels, device=target.device, dtype=torch.float32)
        engine.minimize(objective, problem_keys(seed, ids[todo], device=target.device),
                        stop_at=1.0 - LIVE_THRESHOLD, capacity=canvas.buffer.shape[0], on_done=finish)
        return results

    def _already_live(self, index: int, p_live: float, seed: int) -> AttackResult:
        return AttackResult(index=index, success=True, queries=1, generations=0, p_live_before=p_live,
                            p_live_after=p_live, perturbation=np.zeros((0, 5), dtype=np.int64),
                            fitness_history=np.array([1.0 - p_live]), wall_time_s=0.0, seed=seed,
                            pixels=self.pixels, already_live=True, note="already called live")

    def _result(self, target: Target, index: int, outcome: DEOutcome, original: np.ndarray, h: int, w: int,
                p_before: float, seed: int) -> AttackResult:
        perturbation = decode(torch.from_numpy(outcome.x), h, w).numpy().reshape(self.pixels, 5)
        p_after = 1.0 - outcome.fitness
        success = p_after >= LIVE_THRESHOLD
        verified, note, extra = None, "", {"verification_queries": 0}
        if success and self.verify:
            check = verify_adversarial(target, apply_perturbation(original, perturbation), p_after)
            verified, note, success = check.verified, check.note, check.verified
            extra = {"verification_queries": 1, "p_live_verified": check.p_live}
        return AttackResult(index=index, success=success, queries=1 + outcome.evaluations,
                            generations=outcome.generations, p_live_before=p_before, p_live_after=p_after,
                            perturbation=perturbation, fitness_history=outcome.history,
                            wall_time_s=outcome.wall_time_s, seed=seed, pixels=self.pixels,
                            verified=verified, note=note, extra=extra)
