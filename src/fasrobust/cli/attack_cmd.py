"""`fasrobust attack`: a registered attack (`--attack pixel`, the paper's DE; the others the registry lists) on a
model (run directory, model file, Python callable or HTTP service) over a FaceSet split, into
RUN_DIR/results.sqlite (one job per shard, so an interrupted attack resumes), with adversarial PNGs under
RUN_DIR/adversarial/. Prints recall before, after and the drop, with intervals, and the queries spent.

The command's parameters come in three groups, each declared once where it belongs: the selection and
run options here, the target's options (`target_options.py`), and each attack's settings, generated
from its settings model (`attack_options.py`)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import typer

from ..attacks import ATTACKS
from ..defences import DEFENCES
from ..errors import AttackError, ConfigError, TargetError
from ..paper import PAPER_ATTACK
from ..progress import console
from .app import app
from .attack_options import attack_parameters, chosen_settings
from .target_options import TARGET_PARAMETERS, open_target


def _defence_examples() -> str:
    """"median:3 (a median filter ...); ..." from each registered defence's smoke settings."""
    from ..defences import parse_defence

    return "; ".join(f"{parse_defence({'name': e.name, **e.smoke}).describe()} ({e.description})"
                     for e in DEFENCES.entries())


def _default_faceset(run_dir: Path | None) -> Path:
    """The FaceSet the run directory's model was trained on (recorded in model.json)."""
    if run_dir is not None and (run_dir / "model.json").is_file():
        from ..models.checkpoint import recorded_faceset

        recorded = recorded_faceset(run_dir)
        if recorded is not None:
            return recorded
    raise ConfigError("--faceset DIR is required (no FaceSet is recorded with this target)")


def attack(run_dir: Path | None = typer.Argument(None, help="Run directory with model.safetensors + model.json "
                                                 "(or any target file: see the target options)."),
           run: Path | None = typer.Option(None, "--run", help="Same as RUN_DIR."),
           attack: str = typer.Option(PAPER_ATTACK, "--attack", help=f"The attack: {ATTACKS.help_list()}. Its "
                                      "settings are below."),
           faceset: Path | None = typer.Option(None, "--faceset", help="FaceSet directory (default: the one "
                                               "the run directory's model was trained on)."),
           split: str = typer.Option("test", help="FaceSet split to attack."),
           labels: str = typer.Option("spoof", help="spoof (the paper) or all (live images count as already "
                                      "live)."),
           limit: int | None = typer.Option(None, "--limit", min=1, help="Attack a seeded random sample of N "
                                            "images."),
           seed: int = typer.Option(0, help="Seed; each image's random stream comes from (seed, image id)."),
           shard_size: int = typer.Option(64, "--shard-size", min=1, help="Images per job (unit of resumption)."),
           max_active: int | None = typer.Option(None, "--max-active", min=1,
                                                 help="Images attacked side by side (speed only)."),
           out: Path | None = typer.Option(None, "--out", help="Run directory for results (default: RUN_DIR)."),
           starts: Path | None = typer.Option(None, "--starts", help="Decision-based attacks: start from these "
                                              "live images (a FaceSet's live crops, or a folder of images of the "
                                              "attacked size) instead of the FaceSet's live crops of other "
                                              "subjects."),
           defence: list[str] | None = typer.Option(None, "--defence", help="Put the target behind a deployed "
                                                    f"defence: {_defence_examples()}. Repeat to stack, applied in "
                                                    "order."),
           **options: Any) -> None:
    """Attack spoof faces with a few-pixel black-box attack and store every result."""
    from ..attacks import AttackSpec
    from ..experiments.attack_job import select_image_ids
    from ..experiments.evaluation import evaluate_attack
    from ..experiments.spec import ImageSelection

    if run_dir is not None and run is not None and run_dir != run:
        raise ConfigError("RUN_DIR and --run name different directories; give one")
    run_dir = run_dir or run
    settings = chosen_settings(attack, {k: options.pop(k) for k in list(options) if k in _ATTACK_NAMES})
    stack = _defence_stack(defence or [])
    chosen = AttackSpec.from_settings(attack, settings)
    opened = open_target(run_dir, options)  # first: a target that cannot be opened is the first thing to say
    with opened.target as target:
        out, faces = output_and_faceset(opened, run_dir, out, faceset)
        select_image_ids(faces, split=split, labels=labels, limit=limit, seed=seed)  # bad selections fail early
        selection = ImageSelection.build({"split": split, "labels": labels, "limit": limit, "seed": seed,
                                          "shard_size": shard_size})
        behind = f" behind {_describe(stack)}" if stack else ""
        console.print(f"attacking {target.name}{behind} with {chosen.describe()} (budget "
                      f"{settings.query_budget():,} queries per image)")
        summary = evaluate_attack(target, faces, attack=chosen, run_dir=out, target_id=opened.target_id,
                                  selection=selection, seed=seed, defences=stack, max_active=max_active,
                                  target_source=opened.source_record(),
                                  starts=starts)
    _print(summary, out)
    _raise_failures(summary)


def output_and_faceset(opened, target: Path | None, out: Path | None, faceset: Path | None):
    """(the run directory results go to, the FaceSet attacked): by default a run directory's own, and the
    FaceSet its model was trained on."""
    from ..data.faceset import FaceSet

    is_run_dir = opened.target_id.startswith("torch:")
    out = out or (target if is_run_dir else None)
    if out is None:
        raise ConfigError("--out RUN_DIR is required when the target is not a fasrobust run directory")
    return out, FaceSet.load(faceset or _default_faceset(target if is_run_dir else None))


def _defence_stack(items: list[str]) -> list[dict[str, Any]]:
    """--defence values as canonical JSON (a bad name or value is one line naming it, before any work)."""
    if not items:
        return []
    from ..defences import parse_stack, stack_json

    return stack_json(parse_stack(items))


def _describe(stack: list[dict[str, Any]]) -> str:
    from ..defences import describe_stack, parse_stack

    return describe_stack(parse_stack(stack))


def _print(summary, out: Path) -> None:
    s = summary.stats
    typer.echo(f"images attacked: {summary.images} (spoof {s['spoofs']}), successes {s['successes']} "
               f"(of {s['attacked']} that needed an attack), not verified {s['not_verified']}, "
               f"queries {s['queries']:,}" + (f" (model queries {s['model_queries']:,})"
                                               if s.get("model_queries", s["queries"]) != s["queries"] else ""))
    if s["spoofs"] == 0:
        for name in ("before", "after", "drop"):
            typer.echo(f"recall {name}: n/a (no spoof images attacked)")
    else:
        lo, hi = s["recall_ci"]
        typer.echo(f"recall before: {s['recall']:.2f}% (95% CI {lo:.1f}-{hi:.1f})")
        lo, hi = s["recall_after_ci"]
        typer.echo(f"recall after: {s['recall_after']:.2f}% (95% CI {lo:.1f}-{hi:.1f})")
        typer.echo(f"recall drop: {s['recall_drop']:.2f} points")
    median = s["median_queries"]
    typer.echo("median queries to success: " + ("n/a (no success that needed queries)" if median != median
                                               else f"{median:,.0f}"))
    pixels = s.get("median_pixels", float("nan"))
    if pixels == pixels:
        typer.echo(f"median pixels changed (successes): {pixels:,.0f}")
    typer.echo("threshold: none, the target answers only live or spoof" if summary.threshold != summary.threshold
               else f"threshold: called live iff P(live) >= {summary.threshold:g}")
    typer.echo(f"results: {Path(out) / 'results.sqlite'} ({summary.jobs_run} shard(s) run, "
               f"{summary.jobs_resumed} already done)")


def _raise_failures(summary) -> None:
    _raise_failures_of(summary.failures, summary.jobs_failed)
    if summary.jobs_failed:
        raise AttackError(f"{summary.jobs_failed} shard(s) failed (see the store's failures table)")


def _raise_failures_of(failures: dict[str, tuple[str, str]], shards: int | None = None) -> None:
    """One line for the first target failure: a contract error, or a transient one a re-run resumes."""
    for target_id, (message, kind) in failures.items():
        last = message.strip().splitlines()[-1] if message.strip() else "failed"
        if kind == "contract":
            raise TargetError(f"{last} (target {target_id}; every call fails the same way, so the attack stopped)")
        raise AttackError(f"{'some' if shards is None else shards} shard(s) not attacked: {last} (a transient "
                          "target failure: run the same command again to resume them)")


_STATIC = [p for p in inspect.signature(attack).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
_ATTACK_PARAMETERS = attack_parameters({p.name for p in _STATIC} | {p.name for p in TARGET_PARAMETERS})
_ATTACK_NAMES = {p.name for p in _ATTACK_PARAMETERS}
attack.__signature__ = inspect.Signature([*_STATIC, *TARGET_PARAMETERS, *_ATTACK_PARAMETERS])
attack.__annotations__ = {p.name: p.annotation for p in attack.__signature__.parameters.values()}
app.command("attack")(attack)
