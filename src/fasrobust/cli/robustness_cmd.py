"""`fasrobust robustness`: the worst case over the declared ensemble of attacks (`experiments/ensemble.py`) on
a model or a defended pipeline: one robust recall per (model, defence, pixels, query budget), with its
interval and how many images each attack broke first. Stored like `fasrobust attack` (resumable shards,
RUN_DIR/results.sqlite), with the ensemble recorded in plan.json for the report."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import typer

from .app import app
from .target_options import TARGET_PARAMETERS, open_target


def robustness(target: Path | None = typer.Argument(None, help="Run directory (or any target file: see the "
                                                    "target options)."),
               faceset: Path | None = typer.Option(None, "--faceset", help="FaceSet directory (default: the one "
                                                   "the run directory's model was trained on)."),
               out: Path | None = typer.Option(None, "--out", help="Run directory for results (default: TARGET)."),
               pixels: int = typer.Option(9, "--pixels", min=1, help="Pixels each attack may change (k)."),
               queries: int = typer.Option(1_000, "--queries", min=2, help="Queries per image for each attack."),
               split: str = typer.Option("test", help="FaceSet split to attack."),
               limit: int | None = typer.Option(None, "--limit", min=1, help="A seeded random sample of N spoofs."),
               seed: int = typer.Option(0, help="Seed; each image's random stream comes from (seed, image id)."),
               shard_size: int = typer.Option(64, "--shard-size", min=1, help="Images per job."),
               defence: list[str] | None = typer.Option(None, "--defence", help="Put the target behind a deployed "
                                                        "defence (as for `fasrobust attack`); repeat to stack."),
               **options: Any) -> None:
    """The worst case over sparse-rs, the structured patch attack and the DE: robust recall with its interval."""
    from ..attacks.ensemble import ensemble_attacks
    from ..experiments.ensemble import run_ensemble
    from ..experiments.spec import ImageSelection
    from .attack_cmd import _defence_stack, _raise_failures_of, output_and_faceset

    stack = _defence_stack(defence or [])
    opened = open_target(target, options)
    with opened.target as model:
        out, faces = output_and_faceset(opened, target, out, faceset)
        selection = ImageSelection.build({"split": split, "labels": "spoof", "limit": limit, "seed": seed,
                                          "shard_size": shard_size})
        names = ", ".join(a.describe() for a in ensemble_attacks(pixels, queries))
        typer.echo(f"worst case over: {names}; each image stops at its first success")
        summary = run_ensemble(model, faces, run_dir=out, target_id=opened.target_id, selection=selection,
                               pixels=pixels, queries=queries, seed=seed, defences=stack,
                               target_source=opened.source_record())
    low, high = summary.robust_recall_ci
    typer.echo(f"spoofs {summary.spoofs}, caught before any attack {summary.caught}, still caught after the worst "
               f"case {summary.standing}")
    typer.echo(f"robust recall at {pixels} pixels, {queries:,} queries per attack: {summary.robust_recall:.2f}% "
               f"(95% CI {low:.1f}-{high:.1f})")
    typer.echo("broken first by: " + (", ".join(f"{k} {v}" for k, v in summary.broken_by.items()) or "none"))
    typer.echo(f"results: {Path(out) / 'results.sqlite'}")
    _raise_failures_of(summary.failures)


robustness.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [p for p in inspect.signature(robustness).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    + TARGET_PARAMETERS)
app.command("robustness")(robustness)
