"""Our few-pixel attack against torchattacks' OnePixel and ART's PixelAttack, in one run: the same model,
images, pixels, population and iterations. Prints wall time, the peers' time / ours, and success counts over a few seeds (`--seeds`, default 3).

Peers are optional (`pip install --no-deps torchattacks==3.5.1`, `pip install adversarial-robustness-toolbox
packaging`); a peer that is not installed is skipped with a message.

Making the budgets equal:
- torchattacks: `popsize` is divided by the number of parameters (5 per pixel) and multiplied back inside
  its DE, so popsize = our population (a multiple of 5 * pixels) gives the same total. Its colours are
  floats in [0, 1]; its success is counted on its float image and again after rounding to 8 bits (what a
  saved image holds), with our target's rule.
- ART: the population is hard-coded to 400 // (5 * pixels) per parameter; this script wraps ART's module
  level DE function to pass our population instead (a benchmark-only patch, undone afterwards). A 2-class
  model cannot be given labels (ART raises on y for nb_classes == 2), so it takes the model's own
  predictions, which are 'spoof' for every image here.
- The model is made 'attackable': its last layer is scaled up and its bias set so that every image sits
  just below P(live) = 0.5, so success counts differ between attacks instead of all being 0 or all 1.
Both peers attack one image at a time and spend one extra query per generation on an early-stop check.

    python benchmarks/attack_vs_peers.py              # tiny CNN and FASNet at 32x32
    python benchmarks/attack_vs_peers.py --with-224   # also FASNet at 224x224 (slow on a CPU)
Last line: peer time / our time per case, and success counts.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import time

import numpy as np
import torch
from torch import nn

from fasrobust.attacks.pixel import PixelAttack
from fasrobust.models import create_model
from fasrobust.targets.torch_target import TorchTarget


class TwoClass(nn.Module):
    """The peers' view of our model: float NCHW input in their range, two class logits (spoof, live)
    whose softmax gives back P(live) = sigmoid(logit)."""

    def __init__(self, model: nn.Module, target: TorchTarget, input_max: float):
        super().__init__()
        self.model, self.target, self.input_max = model, target, input_max

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixels = x * (255.0 / self.input_max)
        p = self.target.preprocessing
        mean = torch.tensor(p.mean, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(p.std, dtype=x.dtype).view(1, 3, 1, 1)
        logit = self.model((pixels * p.scale - mean) / std).reshape(-1)
        return torch.stack([torch.zeros_like(logit), logit], dim=1)


#: Where the models run: "cpu" here; benchmarks/gpu.py sets "cuda" for the same cases on a GPU.
DEVICE = "cpu"


def attackable(name: str, size: int, images: np.ndarray, scale: float) -> tuple[nn.Module, TorchTarget]:
    torch.manual_seed(0)
    kwargs = {"input_size": size} if name == "tiny-cnn" else {"input_size": size, "freeze": "none"}
    model = create_model(name, **kwargs).to(DEVICE).eval()
    target = TorchTarget(model, input_size=size, device=DEVICE)
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.weight *= scale
        p = torch.as_tensor(target(images), dtype=torch.float64).clamp(1e-12, 1 - 1e-12)
        last.bias -= float(torch.logit(p).max()) + 0.05
    return model, target


#: Our attack under the paper's rule, and under the peers' own rule (their scipy fork's best1bin with F
#: dithered in [0.5, 1)), so success counts can be compared at an equal rule as well as an equal budget.
OUR_RULES = {"paper rule (rand1, F 0.5)": {}, "peers' rule (best1, F 0.5-1)": {"strategy": "best1", "f": (0.5, 1.0)}}


def run_ours(target: TorchTarget, images: np.ndarray, pixels: int, population: int, iterations: int, *,
             seed: int, **rule):
    attack = PixelAttack(pixels=pixels, population=population, iterations=iterations, **rule)
    start = time.perf_counter()
    results = attack.run(target, images, seed=seed)
    return time.perf_counter() - start, sum(r.success for r in results), ""


def run_torchattacks(model, target, images, pixels, population, iterations):
    import torchattacks

    wrapped = TwoClass(model, target, input_max=1.0).eval()
    attack = torchattacks.OnePixel(wrapped, pixels=pixels, steps=iterations, popsize=population, inf_batch=128)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    labels = torch.zeros(len(images), dtype=torch.long)  # spoof
    start = time.perf_counter()
    adversarial = attack(x, labels)
    wall = time.perf_counter() - start
    with torch.no_grad():
        float_success = int((wrapped(adversarial).argmax(1) == 1).sum())
    eight_bit = (adversarial * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return wall, int((target(eight_bit) >= 0.5).sum()), f"{float_success} on its float colours"


@contextlib.contextmanager
def art_population(population: int):
    """Make ART's pixel attack use `population` candidates in total instead of its hard-coded ~400."""
    import art.attacks.evasion.pixel_threshold as module

    original = module.differential_evolution

    def patched(func, bounds, **kwargs):
        kwargs["popsize"] = max(1, population // len(bounds))
        return original(func, bounds, **kwargs)

    module.differential_evolution = patched
    try:
        yield
    finally:
        module.differential_evolution = original


def run_art(model, target, images, pixels, population, iterations):
    from art.attacks.evasion import PixelAttack as ArtPixelAttack
    from art.estimators.classification import PyTorchClassifier

    size = images.shape[1]
    wrapped = TwoClass(model, target, input_max=255.0).eval()
    classifier = PyTorchClassifier(wrapped, loss=nn.CrossEntropyLoss(), input_shape=(3, size, size), nb_classes=2,
                                   clip_values=(0.0, 255.0), device_type="gpu" if DEVICE.startswith("cuda") else "cpu")
    attack = ArtPixelAttack(classifier, th=pixels, es=1, max_iter=iterations)
    x = images.transpose(0, 3, 1, 2).astype(np.float32)
    with art_population(population):
        start = time.perf_counter()
        adversarial = attack.generate(x)
        wall = time.perf_counter() - start
    eight_bit = np.clip(adversarial, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    return wall, int((target(np.ascontiguousarray(eight_bit)) >= 0.5).sum()), ""


PEERS = {"torchattacks": ("torchattacks", run_torchattacks), "ART": ("art", run_art)}


def seeded(seed: int) -> None:
    """The peers draw from numpy's and torch's global generators (their DE takes seed=None): seed both, so a
    run repeats, and a few seeds show how much a success count owes to luck."""
    np.random.seed(seed)
    torch.manual_seed(seed)


def case(name: str, size: int, *, n: int, pixels: int, population: int, iterations: int, scale: float,
         seeds: int) -> str:
    images = np.random.default_rng(1).integers(30, 220, (n, size, size, 3), dtype=np.uint8)
    model, target = attackable(name, size, images, scale)
    label = f"{name}@{size} ({n} img, d={pixels}, pop {population}, {iterations} gen, seeds 0-{seeds - 1})"
    print(f"{label}:", flush=True)
    total = n * seeds
    fooled, seconds = {}, {}
    for rule_name, rule in OUR_RULES.items():
        runs = [run_ours(target, images, pixels, population, iterations, seed=s, **rule) for s in range(seeds)]
        seconds[rule_name], fooled[rule_name] = sum(r[0] for r in runs), [r[1] for r in runs]
        print(f"  ours, {rule_name}: {seconds[rule_name]:.2f}s, {sum(fooled[rule_name])}/{total} fooled "
              f"(per seed {fooled[rule_name]}; verified from PNG)", flush=True)
    ours_s = next(iter(seconds.values()))  # peers' time is compared with the paper rule's
    parts = [f"{name}@{size}: ours {'/'.join(str(sum(v)) for v in fooled.values())} of {total} (paper/peers' rule)"]
    for peer, (module, runner) in PEERS.items():
        if importlib.util.find_spec(module) is None:
            print(f"  {peer}: skipped (not installed)")
            continue
        wall, ok, notes = 0.0, [], []
        for s in range(seeds):
            seeded(s)
            run_wall, run_ok, note = runner(model, target, images, pixels, population, iterations)
            wall, ok, notes = wall + run_wall, [*ok, run_ok], [*notes, note] if note else notes
        print(f"  {peer}: {wall:.2f}s = {wall / ours_s:.2f}x ours, {sum(ok)}/{total} fooled as 8-bit images "
              f"(per seed {ok})" + (f" ({'; '.join(notes)})" if notes else ""), flush=True)
        parts.append(f"{peer} {wall / ours_s:.2f}x time, {sum(ok)}/{total}")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with-224", action="store_true", help="also FASNet at 224x224")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="smaller budgets")
    parser.add_argument("--seeds", type=int, default=3, help="runs per attack (seeds 0..N-1); times are summed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    q = args.quick
    cases = [("tiny-cnn", 32, dict(n=8, pixels=3, population=90, iterations=10 if q else 20, scale=300.0)),
             ("fasnet", 32, dict(n=4 if q else 6, pixels=3, population=30, iterations=3 if q else 5, scale=300.0))]
    if args.with_224:
        cases.append(("fasnet", 224, dict(n=1, pixels=3, population=15, iterations=2, scale=300.0)))
    lines = [case(name, size, **budget, seeds=args.seeds) for name, size, budget in cases]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, {args.threads} torch thread(s)")
    print("peer time / ours, fooled: " + " | ".join(lines))


if __name__ == "__main__":
    main()
