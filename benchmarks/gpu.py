"""Everything a GPU session measures, in one prepared script (a GPU machine is lent for minutes, so the
measurement is one call): at most 8 minutes on one H100, on CUDA.

1. FASNet (32x32) inference: images/s through the target (uint8 in, P(live) out) and the bare forward pass
   on ready floats, at several batch sizes; target / bare is the target's own overhead.
2. FASNet training: images/s of our trainer's step against a bare PyTorch loop of the same model and batch.
3. Each registered attack's wall time over model-only time: the attack on a model it never fools (every
   image runs its whole budget), then the same batches through the bare forward pass.
4. The attacks against torchattacks' OnePixel and ART's PixelAttack at equal settings
   (benchmarks/attack_vs_peers.py's cases; a peer that is not installed is skipped and said so).
5. Sparse-RS on the `study` preset's images: the sample database prepared and FASNet trained as the preset
   does, then its spoof selection attacked with 9 pixels and the preset's queries; wall time, queries/s,
   the share fooled.

    python benchmarks/gpu.py                    # CUDA when present, else CPU; writes gpu.json
    python benchmarks/gpu.py --smoke            # every part, tiny, on the CPU (the tests run this)

Each part prints its lines; the last line is one summary of the ratios. `--out FILE` keeps every number
as JSON for BENCHMARKS.md."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))  # the other benchmarks' cases

from fasrobust.attacks import ATTACKS, create_attack  # noqa: E402
from fasrobust.attacks.base import SCORE  # noqa: E402
from fasrobust.models import create_model  # noqa: E402
from fasrobust.models.preprocessing import PRESETS, PreprocessingPreset  # noqa: E402
from fasrobust.targets.torch_target import TorchTarget  # noqa: E402

SIZE = 32
#: Timed repeats of each measurement (best of); a smoke run times each once.
REPEATS = {"full": 3, "smoke": 1}
repeats = REPEATS["full"]


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(device: str, call, *, warm: bool = False) -> float:
    """Best of `repeats` wall times of `call()` (synchronised on CUDA), after one warm-up call unless the
    caller has just made one (`warm`)."""
    if not warm:
        call()
        sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def fasnet(device: str, *, never_fooled: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model("fasnet", input_size=SIZE, freeze="none")
    if never_fooled:  # every image runs the attack's whole budget: the batches are known
        with torch.no_grad():
            model.head[-1].bias.fill_(-1e4)
    return model.to(device).eval()


def target_of(model: torch.nn.Module, device: str) -> TorchTarget:
    return TorchTarget(model, preprocessing=PRESETS[PreprocessingPreset.LUCENA], device=device, input_size=SIZE)


# ----- 1. inference ---------------------------------------------------------------------------------------------
def inference(device: str, batches: list[int]) -> dict[str, Any]:
    model = fasnet(device)
    target = target_of(model, device)
    out = {}
    for n in batches:
        images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8))
        images = images.to(device)
        with torch.inference_mode():
            floats = target._transform(images)
        def forward():
            with torch.inference_mode():
                model(floats)  # noqa: B023

        through = timed(device, lambda: target(images))  # noqa: B023
        bare = timed(device, forward)
        out[n] = {"target_img_s": n / through, "bare_img_s": n / bare, "target_over_bare": through / bare}
        print(f"inference batch {n:6d}: target {n / through:12,.0f} img/s, bare {n / bare:12,.0f} img/s, "
              f"target/bare {through / bare:.3f}", flush=True)
    return out


# ----- 2. training ----------------------------------------------------------------------------------------------
def training(device: str, steps: int, images: int) -> dict[str, Any]:
    import train_throughput

    faceset = train_throughput.synthetic_faceset(n=images)
    loop_rate, end_to_end = train_throughput.ours(faceset, "none", steps, device)
    bare = train_throughput.bare(faceset, steps, min(10, steps // 2), device)
    print(f"training batch {train_throughput.BATCH}: ours {loop_rate:,.0f} img/s in the loop "
          f"({end_to_end:,.0f} end to end), bare {bare:,.0f} img/s, ours/bare {loop_rate / bare:.3f}", flush=True)
    return {"ours_img_s": loop_rate, "ours_end_to_end_img_s": end_to_end, "bare_img_s": bare,
            "ours_over_bare": loop_rate / bare}


# ----- 3. attacks over model-only time --------------------------------------------------------------------------
class Recording(TorchTarget):
    """A target that keeps the size of every batch it is asked about."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sizes: list[int] = []

    def __call__(self, images):
        self.sizes.append(len(images))
        return super().__call__(images)


def attack_overhead(device: str, images: int, scale: float) -> dict[str, Any]:
    model = fasnet(device, never_fooled=True)
    batch = np.random.default_rng(0).integers(0, 256, (images, SIZE, SIZE, 3), dtype=np.uint8)
    out = {}
    # The score-based attacks: the decision-based ones have their own benchmark (decision_attacks.py).
    for entry in [e for e in ATTACKS.entries() if e.target.reads == SCORE]:
        settings = {**entry.smoke}
        budget = entry.target.Settings.budget_field
        settings[budget] = max(1, round(int(settings[budget]) * scale))  # the declared smoke budget, scaled
        target = Recording(model, preprocessing=PRESETS[PreprocessingPreset.LUCENA], device=device, input_size=SIZE)
        attack = create_attack(entry.name, **settings)
        attack.run(target, batch, seed=0)
        sizes = list(target.sizes)
        ready = [torch.from_numpy(np.resize(batch, (n, SIZE, SIZE, 3))).to(device) for n in sizes]
        with torch.inference_mode():
            floats = [target._transform(x) for x in ready]

        def model_only():
            with torch.inference_mode():
                for x in floats:  # noqa: B023
                    model(x)

        # The recording run above was the warm-up.
        attack_s = timed(device, lambda: attack.run(target, batch, seed=0), warm=True)  # noqa: B023
        model_s = timed(device, model_only)
        queries = sum(sizes)
        out[entry.name] = {"settings": settings, "queries": queries, "attack_s": attack_s, "model_s": model_s,
                           "attack_over_model": attack_s / model_s, "queries_per_s": queries / attack_s}
        print(f"attack {entry.name:10s} ({images} img, {queries:,} queries): {attack_s:.3f} s against "
              f"{model_s:.3f} s of model alone = {attack_s / model_s:.2f}x, {queries / attack_s:,.0f} queries/s",
              flush=True)
    return out


# ----- 4. peers -------------------------------------------------------------------------------------------------
def peers(device: str, smoke: bool) -> dict[str, Any]:
    missing = [m for m in ("torchattacks", "art") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"peers: {', '.join(missing)} not installed (pip install --no-deps torchattacks==3.5.1; pip install "
              "adversarial-robustness-toolbox packaging): their cases are skipped", flush=True)
    import attack_vs_peers

    if device.startswith("cuda"):
        attack_vs_peers.DEVICE = device  # the peers' models and ours on the same device
    n, population, iterations = (2, 10, 2) if smoke else (16, 90, 20)
    summary = attack_vs_peers.case("fasnet", SIZE, n=n, pixels=1 if smoke else 3, population=population,
                                   iterations=iterations, scale=8.0, seeds=1 if smoke else 3)
    print(f"peers: {summary}", flush=True)
    return {"summary": summary, "not_installed": missing}


# ----- 5. Sparse-RS on the study preset's images ------------------------------------------------------------------
def study_sparse_rs(device: str, smoke: bool) -> dict[str, Any]:
    from fasrobust.data.prepare import PrepareSettings, prepare
    from fasrobust.experiments.attack_job import select_image_ids, shard_images
    from fasrobust.experiments.spec import ExperimentSpec, train_settings
    from fasrobust.training.trainer import train

    spec = ExperimentSpec.preset("study")
    grids = spec.study_grids()
    attack = next(a for g in grids.values() for a in g.attacks if a.name == "sparse-rs")
    queries = 10 if smoke else int(max(attack.axes()["queries"]))
    selection = spec.images
    with tempfile.TemporaryDirectory() as work:
        database = {**spec.databases[0].prepare, "out": Path(work) / "faces"}
        if smoke:
            database["reader_options"] = {**database.get("reader_options", {}), "subjects": 3, "frames": 2}
            database["frames_per_video"] = 2
        start = time.perf_counter()
        faces = prepare(PrepareSettings.build(database))
        prepare_s = time.perf_counter() - start
        steps = 3 if smoke else max(spec.grid.steps)
        settings = train_settings(spec, augment="none", steps=steps, seed=0, eval_every=0, checkpoint_every=0,
                                  device="cuda" if device.startswith("cuda") else "cpu",
                                  **({"batch_size": 8} if smoke else {}))
        start = time.perf_counter()
        run = train(settings, faces, Path(work) / "model")
        train_s = time.perf_counter() - start
        ids = select_image_ids(faces, split=selection.split, labels=selection.labels.value,
                               limit=4 if smoke else selection.limit, seed=selection.seed)
        target = TorchTarget.from_checkpoint(run, device=device)
        images = shard_images(faces, ids)
        chosen = create_attack("sparse-rs", pixels=9, queries=queries)
        start = time.perf_counter()
        results = chosen.run(target, images, seed=0, ids=np.asarray(ids))
        attack_s = time.perf_counter() - start
    spent = sum(r.queries for r in results)
    fooled = sum(r.success and not r.already_live for r in results)
    caught = sum(not r.already_live for r in results)
    print(f"study preset images: {len(ids)} spoofs, prepared in {prepare_s:.1f} s, FASNet {steps} steps in "
          f"{train_s:.1f} s; Sparse-RS 9 px, {queries} queries: {fooled} of {caught} caught spoofs fooled, "
          f"{spent:,} queries in {attack_s:.2f} s = {spent / attack_s:,.0f} queries/s", flush=True)
    return {"images": len(ids), "queries_budget": queries, "prepare_s": prepare_s, "train_steps": steps,
            "train_s": train_s, "attack_s": attack_s, "queries": spent, "queries_per_s": spent / attack_s,
            "fooled": fooled, "caught_before": caught}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--smoke", action="store_true", help="every part, tiny, on the CPU")
    parser.add_argument("--out", type=Path, default=Path("gpu.json"), help="JSON of every number")
    parser.add_argument("--parts", default="inference,training,attacks,peers,study")
    args = parser.parse_args()
    device = "cpu" if args.smoke else args.device
    global repeats
    repeats = REPEATS["smoke" if args.smoke else "full"]
    if device == "cpu":
        torch.set_num_threads(int(os.environ.get("FASROBUST_THREADS", "2")))
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    print(f"fasrobust GPU benchmark on {name}, torch {torch.__version__}{' (smoke)' if args.smoke else ''}",
          flush=True)
    parts = set(args.parts.split(","))
    results: dict[str, Any] = {"device": name, "torch": torch.__version__, "smoke": args.smoke}
    start = time.perf_counter()
    if "inference" in parts:
        results["inference"] = inference(device, [8, 32] if args.smoke else [256, 1024, 4096, 16384])
    if "training" in parts:
        results["training"] = training(device, 2 if args.smoke else 60, 128 if args.smoke else 512)
    if "attacks" in parts:
        results["attacks"] = attack_overhead(device, 1 if args.smoke else 256, 0.25 if args.smoke else 4)
    if "peers" in parts:
        results["peers"] = peers(device, args.smoke)
    if "study" in parts:
        results["study"] = study_sparse_rs(device, args.smoke)
    results["wall_s"] = time.perf_counter() - start
    args.out.write_text(json.dumps(results, indent=2, default=str))
    ratios = [f"{k}: attack/model {v['attack_over_model']:.2f}x" for k, v in results.get("attacks", {}).items()]
    if "training" in results:
        ratios.append(f"training ours/bare {results['training']['ours_over_bare']:.2f}")
    print(f"done in {results['wall_s']:.0f} s; " + "; ".join(ratios), flush=True)


if __name__ == "__main__":
    main()
