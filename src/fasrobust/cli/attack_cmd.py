"""`fasrobust attack`: the paper's few-pixel attack on a model (run directory, ONNX file or HTTP endpoint)
over a FaceSet split, into RUN_DIR/results.sqlite (one job per shard, so an interrupted attack resumes),
with adversarial PNGs under RUN_DIR/adversarial/. Prints recall before, after and the drop."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import AttackError, ConfigError, DataError, ModelError
from ..progress import console
from ..provenance import file_sha256
from .app import app


def _parse_f(text: str) -> float | tuple[float, float]:
    """'0.5' -> 0.5; '0.5,1' -> dithered F in [0.5, 1)."""
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        raise AttackError(f"--f must be a number or 'low,high', got {text!r}") from None
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise AttackError(f"--f must be a number or 'low,high', got {text!r}")


def _target_source(run_dir: Path | None, onnx: Path | None, url: str | None) -> tuple[str, str]:
    """(spec for load_target, a stable id of the model for job ids)."""
    given = [s for s in (run_dir, onnx, url) if s is not None]
    if len(given) != 1:
        raise ConfigError("give exactly one target: a run directory (RUN_DIR or --run), --onnx FILE or --url URL")
    if url is not None:
        return url, f"url:{url}"
    if onnx is not None:
        if not onnx.is_file():
            raise DataError("ONNX file not found", onnx)
        return str(onnx), f"onnx:{file_sha256(onnx)[:16]}"
    weights = run_dir / "model.safetensors"
    if not weights.is_file():
        raise ModelError("no checkpoint in this run directory (model.safetensors is missing; train first)",
                         run_dir)
    return str(run_dir), f"torch:{file_sha256(weights)[:16]}"


def _default_faceset(run_dir: Path | None) -> Path:
    """The FaceSet the run directory's model was trained on (recorded in model.json)."""
    if run_dir is not None:
        from ..models.checkpoint import read_info

        recorded = (read_info(run_dir).get("training_data") or {}).get("faceset")
        if recorded and Path(recorded).is_dir():
            return Path(recorded)
    raise ConfigError("--faceset DIR is required (no FaceSet is recorded with this target)")


@app.command("attack")
def attack(
    run_dir: Path | None = typer.Argument(None, help="Run directory with model.safetensors + model.json."),
    run: Path | None = typer.Option(None, "--run", help="Same as RUN_DIR."),
    onnx: Path | None = typer.Option(None, "--onnx", help="Attack an ONNX file instead."),
    url: str | None = typer.Option(None, "--url", help="Attack an HTTP liveness endpoint (fasrobust serve)."),
    faceset: Path | None = typer.Option(None, "--faceset", help="FaceSet directory (default: the one the "
                                        "run directory's model was trained on)."),
    split: str = typer.Option("test", help="FaceSet split to attack."),
    labels: str = typer.Option("spoof", help="spoof (the paper) or all (live images count as already live)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Attack a seeded random sample of N images."),
    pixels: int = typer.Option(9, help="Pixels changed per image (the paper: 1-9)."),
    iterations: int = typer.Option(200, help="DE generations before giving up (the paper: 200)."),
    population: int = typer.Option(400, help="Candidates per image, in total (not a multiplier)."),
    f: str = typer.Option("0.5", "--f", help="DE scale F, or 'low,high' to dither it per generation."),
    cr: float = typer.Option(1.0, "--cr", help="Crossover probability (1: take the mutant whole, as Su et al.)."),
    strategy: str = typer.Option("rand1", help="DE strategy: rand1 (the paper) or best1."),
    seed: int = typer.Option(0, help="Seed; each image's random stream comes from (seed, image id)."),
    shard_size: int = typer.Option(64, "--shard-size", min=1, help="Images per job (unit of resumption)."),
    max_active: int | None = typer.Option(None, "--max-active", min=1,
                                          help="Images attacked side by side (default: fit 256 MiB / 2 GiB)."),
    device: str = typer.Option("auto", help="torch device for a run directory: auto, cpu, cuda ..."),
    out: Path | None = typer.Option(None, "--out", help="Run directory for results (default: RUN_DIR)."),
) -> None:
    """Attack spoof faces with the paper's few-pixel differential-evolution attack."""
    from ..attacks.pixel import PixelAttack
    from ..data.faceset import FaceSet
    from ..experiments.attack_job import attack_faceset, select_image_ids
    from ..targets import load_target

    if run_dir is not None and run is not None and run_dir != run:
        raise ConfigError("RUN_DIR and --run name different directories; give one")
    run_dir = run_dir or run
    spec, target_id = _target_source(run_dir, onnx, url)
    out = out or run_dir
    if out is None:
        raise ConfigError("--out RUN_DIR is required when attacking an ONNX file or a URL")
    attack_ = PixelAttack(pixels=pixels, population=population, iterations=iterations, f=_parse_f(f), cr=cr,
                          strategy=strategy, max_active=max_active)
    faces = FaceSet.load(faceset or _default_faceset(run_dir))
    select_image_ids(faces, split=split, labels=labels, limit=limit, seed=seed)  # bad selections fail before loading
    options = {"device": device} if run_dir is not None else {}
    with load_target(spec, **options) as target:
        console.print(f"attacking {target.name} with {attack_}")
        summary = attack_faceset(target, faces, attack=attack_, run_dir=out, target_id=target_id, split=split,
                                 labels=labels, limit=limit, seed=seed, shard_size=shard_size)
    typer.echo(f"images attacked: {summary.images} (spoof {summary.spoofs}), successes {summary.successes}, "
               f"not verified {summary.not_verified}, queries {summary.queries:,}")
    for name, value in (("before", f"{100 * summary.recall_before:.2f}%"),
                        ("after", f"{100 * summary.recall_after:.2f}%"),
                        ("drop", f"{summary.recall_drop:.2f} points")):
        typer.echo(f"recall {name}: " + ("n/a (no spoof images attacked)" if summary.spoofs == 0 else value))
    typer.echo(f"results: {Path(out) / 'results.sqlite'} ({summary.jobs_run} shard(s) run, "
               f"{summary.jobs_resumed} already done)")
    if summary.jobs_failed:
        raise AttackError(f"{summary.jobs_failed} shard(s) failed on target errors (recorded in the store's "
                          "failures table); run the same command again to resume them")
