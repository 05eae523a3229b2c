"""Campaign scaling: attack-job throughput with 1 and 2 workers (in-process pool and Ray, one torch
thread each), and the results store's overhead per attacked image.

The work is the experiments stage's own attack shards (FASNet at 32x32, 9 pixels) through the same
executors `fasrobust run` uses. The model's output bias is pushed down so no attack succeeds: every
image then runs its whole budget and each shard costs the same, so throughput compares like with
like. Workers are warmed up (one shard each, not timed): process start and imports are paid once
per campaign, not per job. The store overhead is the driver's commit time of each shard's rows
against the attack time of those images.

    python benchmarks/campaign_scaling.py [--shards 8] [--images 8] [--population 20] [--iterations 5]
                                          [--executors inprocess,ray]

Ratios are printed on the last lines (2-worker speed-up; store overhead in percent)."""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def build_inputs(root: Path, n_images: int, size: int = 32) -> tuple[Path, Path]:
    """A FaceSet of spoof test faces and a FASNet checkpoint that calls everything spoof."""
    from fasrobust.data.faceset import META_COLUMNS, FaceSet
    from fasrobust.models import create_model
    from fasrobust.models.checkpoint import save_checkpoint

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n_images, size, size, 3), dtype=np.uint8)
    meta = pd.DataFrame([{"id": i, "label": "spoof", "attack_type": "print", "subject": "s", "split": "test",
                          "source": f"v{i}.mov", "frame": 0, "box_x": 0, "box_y": 0, "box_w": size, "box_h": size,
                          "detector": "bench"} for i in range(n_images)], columns=META_COLUMNS)
    FaceSet(images, meta, {"database": "bench"}).write(root / "faceset")
    torch.manual_seed(0)
    model = create_model("fasnet", input_size=size)
    with torch.no_grad():
        model.head[-1].bias.fill_(-8.0)  # P(live) ~ 3e-4 whatever 9 pixels do: full budget every time
    save_checkpoint(root / "model", model.eval())
    return root / "faceset", root / "model"


def shard_tasks(faceset: Path, model: Path, run_dir: Path, args) -> list:
    from fasrobust.experiments.jobs import Task

    settings = {"attack": "pixel", "pixels": 9, "population": args.population, "iterations": args.iterations,
                "f": 0.5, "cr": 1.0, "strategy": "rand1", "seed": 0}
    tasks = []
    for shard in range(args.shards + 2):  # two more: the warm-up of each of (up to) two workers
        ids = list(range(shard * args.images, (shard + 1) * args.images))
        tasks.append(Task(f"attack-bench-{shard}", "attack", {**settings, "image_ids": ids},
                          {"faceset": str(faceset), "model_dir": str(model)}, str(run_dir), threads=1,
                          device="cpu"))
    return tasks


def measure(executor, tasks: list, warmup: int) -> tuple[float, list]:
    """Warm each worker with one task (untimed), then the wall time of the rest, all in flight."""
    for task in tasks[:warmup]:
        executor.submit(task)
    warmed = 0
    while warmed < warmup:
        warmed += len(executor.wait())
    start = time.perf_counter()
    pending = list(tasks[warmup:])
    outcomes, in_flight = [], 0
    while pending or in_flight:
        while pending and in_flight < executor.slots:
            executor.submit(pending.pop(0))
            in_flight += 1
        done = executor.wait()
        in_flight -= len(done)
        outcomes += done
    bad = [o.error for o in outcomes if not o.ok]
    if bad:
        raise RuntimeError(bad[0])
    return time.perf_counter() - start, outcomes


def store_overhead(outcomes: list, run_dir: Path) -> tuple[float, float]:
    """Seconds per attacked image to commit the rows, and the attack's own seconds per image."""
    from fasrobust.experiments.store import ResultsStore

    commit, attack, images = 0.0, 0.0, 0
    with ResultsStore(run_dir / "bench.sqlite") as store:
        for o in outcomes:
            start = time.perf_counter()
            store.commit_job(o.job_id, "attack", {"bench": o.job_id}, o.result, wall_s=o.wall_s, attack_rows=o.rows)
            commit += time.perf_counter() - start
            attack += o.wall_s  # the shard's attack time (images of a shard are attacked together)
            images += len(o.rows)
    return commit / images, attack / images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=8, help="timed shards per configuration")
    parser.add_argument("--images", type=int, default=8, help="images per shard")
    parser.add_argument("--population", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--executors", default="inprocess,ray", help="comma-separated: inprocess, ray")
    args = parser.parse_args()

    from fasrobust.experiments.executors import cpu_count, create_executor

    root = Path(tempfile.mkdtemp(prefix="campaign-scaling-"))
    faceset, model = build_inputs(root, (args.shards + 2) * args.images)
    tasks = shard_tasks(faceset, model, root / "run", args)
    images = args.shards * args.images
    queries = images * (1 + args.population * (1 + args.iterations))
    print(f"{cpu_count()} CPUs; FASNet 32x32, 9 pixels, population {args.population}, {args.iterations} "
          f"iterations; {args.shards} shards x {args.images} images = {queries} queries per configuration")
    rates, overheads = {}, []
    configurations = [(name, workers) for name in args.executors.split(",") for workers in (1, 2)]
    for name, workers in configurations:
        if name == "ray":
            try:
                import ray  # noqa: F401
            except ImportError:
                print("ray is not installed: skipping the Ray executor")
                continue
        executor = create_executor(name, workers=workers, threads=1)
        try:
            wall, outcomes = measure(executor, tasks, warmup=executor.slots)
        finally:
            executor.close()
        rates[(name, workers)] = images / wall
        commit, attack = store_overhead(outcomes, root / f"{name}{workers}")
        overheads.append(commit / attack)
        print(f"{name:9s} {workers} worker(s): {wall:6.1f} s, {images / wall:6.2f} images/s, "
              f"{queries / wall:7.0f} queries/s; store {commit * 1e3:.2f} ms/image vs attack {attack * 1e3:.0f} ms/image")
    for name in ("inprocess", "ray"):
        if (name, 1) in rates and (name, 2) in rates:
            print(f"speed-up {name} 2 workers / 1 worker: {rates[(name, 2)] / rates[(name, 1)]:.2f}x (target >= 1.6x)")
    print(f"store overhead per attacked image: {100 * statistics.median(overheads):.3f}% of attack time "
          f"(median over configurations; target < 1%)")


if __name__ == "__main__":
    os.environ.setdefault("FASROBUST_QUIET", "1")
    main()
