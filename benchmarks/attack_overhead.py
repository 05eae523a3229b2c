"""How much time the few-pixel attack adds on top of the model it queries.

For each (model, input size) case: attack a few images with a model that is never fooled (its output
bias is pushed far negative, so every image runs the whole budget and the batches are known), record
the size of every batch the attack sent to the target, then send the same number of batches of the
same sizes, built beforehand, through the same target. The ratio attack wall time / that time is the
attack's overhead: DE bookkeeping, random numbers, painting candidates, selection. The target's own
work (uint8 -> normalised float, the forward pass) is in both. The bare forward pass on ready float
input is also timed and reported, for reference. Target: ratio <= 1.05.

On a shared machine the direct ratio is noisy (the same work can take 1.5-5 s under load), so the
attack's own work is also measured apart: the same attack against a target that answers at once,
minus those batches through that target. "decomposed" = (target time + own work) / target time.
Each number is the best of `--repeats` interleaved runs.

    python benchmarks/attack_overhead.py            # small budgets, a few minutes on 2 CPU cores
    python benchmarks/attack_overhead.py --quick    # tiny budgets (smoke run)
Last line: the ratios, one per case.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from fasrobust.attacks.pixel import PixelAttack
from fasrobust.models import create_model
from fasrobust.targets.base import Target
from fasrobust.targets.torch_target import TorchTarget


class RecordingTarget(TorchTarget):
    """Remembers the size of every batch it is asked to score."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sizes: list[int] = []

    def __call__(self, images):
        self.sizes.append(int(images.shape[0]))
        return super().__call__(images)


def never_fooled(name: str, size: int) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model(name, input_size=size) if name == "tiny-cnn" else create_model(name, input_size=size,
                                                                                          freeze="none")
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.bias.fill_(-50.0)  # P(live) ~ 0: the attack always runs its whole budget
    return model.eval()


def interleaved_best(repeats: int, *fns) -> list[float]:
    """Best-of-`repeats` wall time of each function, run in turn (A, B, C, A, B, C, ...): on a shared
    machine whose load drifts, interleaving keeps the comparison fair where back-to-back blocks do not."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


class NullTarget(Target):
    """Answers P(live) = 0 at once: what is left of an attack run against it is the attack's own work."""

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(images))


def case(name: str, size: int, *, images: int, pixels: int, population: int, iterations: int,
         repeats: int) -> tuple[float, float]:
    """Returns (direct ratio, decomposed ratio); prints the parts."""
    target = RecordingTarget(never_fooled(name, size), input_size=size, device="cpu")
    batch = np.random.default_rng(0).integers(0, 256, (images, size, size, 3), dtype=np.uint8)
    attack = PixelAttack(pixels=pixels, population=population, iterations=iterations)
    attack.run(target, batch, seed=0)  # warm-up, and the batch sizes
    sizes = list(target.sizes)
    ready = [torch.from_numpy(np.resize(batch, (n, size, size, 3))) for n in sizes]
    with torch.inference_mode():
        floats = [target._transform(x) for x in ready]  # the target's own input conversion

    def forward():
        with torch.inference_mode():
            for x in floats:
                for start in range(0, len(x), target.max_batch):
                    target.module(x[start:start + target.max_batch])

    null = NullTarget(max_batch=target.max_batch)
    attack_s, target_s, model_s, null_attack_s, null_target_s = interleaved_best(
        repeats, lambda: attack.run(target, batch, seed=0), lambda: [target(x) for x in ready], forward,
        lambda: attack.run(null, batch, seed=0), lambda: [null(x) for x in ready])
    assert target.sizes[-len(sizes):] == sizes, "the attack's batches are deterministic"
    own_s = max(0.0, null_attack_s - null_target_s)  # the attack's own work, measured on its own
    queries = sum(sizes)
    direct, decomposed = attack_s / target_s, (target_s + own_s) / target_s
    print(f"{name:8s} {size:3d}px  {images} img, d={pixels}, pop {population}, {iterations} gen: {queries} queries | "
          f"attack {attack_s:.3f}s, same batches via target {target_s:.3f}s (bare forward {model_s:.3f}s), "
          f"attack's own work {own_s * 1e6 / queries:.2f} us/query vs target {target_s * 1e6 / queries:.1f} us/query | "
          f"direct {direct:.3f}  decomposed {decomposed:.3f}", flush=True)
    return direct, decomposed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets, for a smoke run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-fasnet-224", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    q = args.quick
    cases = [
        ("tiny-cnn", 32, dict(images=8, pixels=3, population=90, iterations=5 if q else 20)),
        ("tiny-cnn", 32, dict(images=32, pixels=9, population=400, iterations=2 if q else 5)),
        ("tiny-cnn", 224, dict(images=4, pixels=9, population=90, iterations=2 if q else 5)),
        ("fasnet", 32, dict(images=4, pixels=9, population=90, iterations=1 if q else 3)),
        ("fasnet", 224, dict(images=1, pixels=9, population=20, iterations=1)),
    ]
    if args.skip_fasnet_224:
        cases = cases[:-1]
    ratios = []
    for name, size, budget in cases:
        direct, decomposed = case(name, size, repeats=1 if name == "fasnet" and size == 224 else args.repeats,
                                  **budget)
        ratios.append(f"{name}@{size}/{budget['images']}img={direct:.3f} ({decomposed:.3f})")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, {args.threads} torch thread(s)")
    print("attack/model ratio, direct (decomposed): " + "  ".join(ratios))


if __name__ == "__main__":
    main()
