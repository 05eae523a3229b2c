"""Training throughput: our trainer's step against a bare PyTorch loop of the same model and batch.

FASNet at 32x32 (the paper's size), batch 64, SGD, trained from scratch (so nothing frozen), on the
CPU by default. For each of the paper's eight augmentation settings, one `train()` run and one bare
loop (no augmentation, no logging, no progress bar) are timed back to back, their order alternating
from setting to setting so that load from other processes hits both sides alike. The trainer's rate
is taken from its own train_log.jsonl intervals after the first (which holds the warm-up), the bare
loop's after the same number of warm-up steps. End-to-end time (set-up, data hashing, final checkpoint
and resume state) is shown as well. Prints a table, then one line per setting: "ours/bare <setting> <r>".

    python benchmarks/train_throughput.py [--steps 30] [--repeats 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("FASROBUST_QUIET", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from fasrobust.data.faceset import META_COLUMNS, FaceSet  # noqa: E402
from fasrobust.models import create_model  # noqa: E402
from fasrobust.training.augment import AugmentSetting  # noqa: E402
from fasrobust.training.loop import SYNC_EVERY  # noqa: E402
from fasrobust.training.trainer import TrainSettings, train  # noqa: E402

SIZE, BATCH = 32, 64


def synthetic_faceset(n: int = 512, seed: int = 0) -> FaceSet:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)
    labels = np.where(np.arange(n) % 2 == 0, "live", "spoof")
    meta = pd.DataFrame({"id": np.arange(n), "label": labels,
                         "attack_type": np.where(labels == "live", "bona_fide", "print"), "subject": "s",
                         "split": "train", "source": [f"v{i}" for i in range(n)], "frame": 0, "box_x": 0,
                         "box_y": 0, "box_w": SIZE, "box_h": SIZE, "detector": "none"})
    return FaceSet(images, meta[list(META_COLUMNS)], {})


def ours(faceset: FaceSet, setting: str, steps: int, device: str) -> tuple[float, float]:
    """(loop images/s after the first log interval, end-to-end images/s)."""
    settings = TrainSettings(model="fasnet", augment=setting, steps=steps, batch_size=BATCH, eval_every=0,
                             checkpoint_every=0, dev_split=None, device=device, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        train(settings, faceset, Path(tmp) / "run")
        total = time.perf_counter() - start
        entries = [json.loads(line) for line in (Path(tmp) / "run" / "train_log.jsonl").read_text().splitlines()]
    rates = [e["img_per_s"] for e in entries if e["kind"] == "train"][1:]
    # Each interval covers SYNC_EVERY steps: the mean of rates weighted alike is images / time. A run too short
    # for a second interval (a smoke run) has only its end-to-end rate.
    end_to_end = steps * BATCH / total
    loop_rate = len(rates) / sum(1 / r for r in rates) if rates else end_to_end
    return loop_rate, end_to_end


def bare(faceset: FaceSet, steps: int, warmup: int, device: str) -> float:
    torch.manual_seed(0)
    model = create_model("fasnet", input_size=SIZE, freeze="none").to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    images = torch.from_numpy(np.ascontiguousarray(faceset.images)).to(device)
    labels = torch.from_numpy(faceset.is_live.astype(np.float32)).to(device)
    order = torch.randperm(len(images))
    for step in range(warmup + steps):
        if step == warmup:
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        index = order[(step * BATCH) % (len(images) - BATCH):][:BATCH].to(device)
        x = images[index].permute(0, 3, 1, 2).float() / 255.0
        loss = F.binary_cross_entropy_with_logits(model(x), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device == "cuda":
        torch.cuda.synchronize()
    return steps * BATCH / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="steps per run (the first 10 are warm-up)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--settings", default=",".join(s.value for s in AugmentSetting))
    args = parser.parse_args()
    faceset = synthetic_faceset()
    settings = args.settings.split(",")
    results: dict[str, dict[str, list[float]]] = {s: {"ours": [], "bare": [], "e2e": []} for s in settings}
    print(f"FASNet {SIZE}x{SIZE}, batch {BATCH}, {args.steps} steps ({SYNC_EVERY} warm-up), device {args.device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for repeat in range(args.repeats):
        for i, setting in enumerate(settings):
            first_ours = (i + repeat) % 2 == 0
            for side in ("ours", "bare") if first_ours else ("bare", "ours"):
                if side == "ours":
                    loop_rate, e2e = ours(faceset, setting, args.steps, args.device)
                    results[setting]["ours"].append(loop_rate)
                    results[setting]["e2e"].append(e2e)
                else:
                    results[setting]["bare"].append(bare(faceset, args.steps - SYNC_EVERY, SYNC_EVERY, args.device))
            r = results[setting]
            print(f"  [{repeat + 1}/{args.repeats}] {setting:14s} ours {r['ours'][-1]:8.1f} img/s | "
                  f"bare {r['bare'][-1]:8.1f} img/s", flush=True)
    print(f"\n{'setting':14s} {'ours img/s':>11s} {'bare img/s':>11s} {'ours/bare':>10s} {'end-to-end':>11s}")
    lines = []
    for setting in settings:
        r = {k: statistics.median(v) for k, v in results[setting].items()}
        ratio = r["ours"] / r["bare"]
        print(f"{setting:14s} {r['ours']:11.1f} {r['bare']:11.1f} {ratio:10.3f} {r['e2e']:11.1f}")
        lines.append(f"ours/bare {setting} {ratio:.3f}")
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
