"""What each input defence costs at inference: milliseconds per image of FASNet (32x32) behind the defence
against the bare model, measured side by side in one run, interleaved (A, B, A, B, ...) and best of
`--repeats`, so a machine whose load drifts slows both alike. The transform's own cost is the difference;
randomized smoothing and the squeezing detector also pay for the extra model calls they make (their
`model_calls_per_query`), which the last column shows.

    python benchmarks/defence_cost.py                 # 256 images, every defence of the registry
    python benchmarks/defence_cost.py --images 64 --repeats 2
Last line: the ratios, one per defence.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from fasrobust.defences import defend, list_defences, parse_stack
from fasrobust.models import create_model
from fasrobust.targets.torch_target import TorchTarget

#: One representative setting per registered defence (eot is the attacker's, not a deployed defence).
SETTINGS = {"median": "median:3", "blur": "blur:1.0", "jpeg": "jpeg:75", "bits": "bits:4",
            "smooth": "smooth:sigma=8,n=8", "squeeze": "squeeze:0.2"}


def best_of(repeats: int, *calls) -> list[float]:
    best = [float("inf")] * len(calls)
    for _ in range(repeats):
        for i, call in enumerate(calls):
            start = time.perf_counter()
            call()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = create_model("fasnet", input_size=32, freeze="none").eval()
    raw = TorchTarget(model, input_size=32, device="cpu")
    images = np.random.default_rng(0).integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8)
    raw(images[:8])  # warm-up
    print(f"FASNet 32x32, {args.images} images, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, best of {args.repeats}")
    print(f"{'defence':<24}{'bare ms/img':>12}{'defended':>12}{'ratio':>8}{'model calls':>13}")
    ratios = []
    for name in list_defences():
        if name not in SETTINGS:
            continue
        defended = defend(raw, parse_stack([SETTINGS[name]]))
        bare_s, defended_s = best_of(args.repeats, lambda: raw(images), lambda d=defended: d(images))
        ratio = defended_s / bare_s
        ratios.append(f"{SETTINGS[name]} {ratio:.2f}")
        print(f"{SETTINGS[name]:<24}{bare_s * 1000 / args.images:>12.3f}{defended_s * 1000 / args.images:>12.3f}"
              f"{ratio:>8.2f}{defended.model_calls_per_query:>13}")
    print("ratios: " + ", ".join(ratios))


if __name__ == "__main__":
    main()
