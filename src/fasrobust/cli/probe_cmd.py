"""`fasrobust probe TARGET [--faceset FS] [target options]`: the first command to run on a model of your
own. Prints the contract as understood (inputs, outputs, layout, channel order, range, output kind, live
direction, threshold), runs the target sanity check, scores a few live and spoof crops and warns when the
live direction looks inverted. Exits 0 when the target answers; a contract problem is one line, exit 2."""

from __future__ import annotations

import inspect
import json
import warnings
from pathlib import Path
from typing import Any

import typer

from ..errors import ConfigError
from .app import app
from .target_options import TARGET_PARAMETERS, open_target

_OWN = [
    inspect.Parameter("target", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str | None,
                      default=typer.Argument(None, help="Run directory, .onnx / .tflite / .keras / .h5 file, "
                                             "SavedModel directory, python:pkg.module:function or http(s) URL "
                                             "(or use --onnx, --tflite, --keras, --python, --url).")),
    inspect.Parameter("faceset", inspect.Parameter.KEYWORD_ONLY, annotation=Path | None,
                      default=typer.Option(None, "--faceset", help="FaceSet whose crops to score (default: the "
                                           "one a run directory's model was trained on, else random images, "
                                           "which check the contract but not the live direction).")),
    inspect.Parameter("crops", inspect.Parameter.KEYWORD_ONLY, annotation=int,
                      default=typer.Option(16, "--crops", min=1, help="Live and spoof crops to score, each.")),
]


def _sample(faceset: Path | None, crops: int, size: int | None) -> tuple[Any, Any]:
    """(images, is_live or None): crops of the FaceSet's test split (else all of it), or random images."""
    import numpy as np

    if faceset is None:
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (crops, size or 32, size or 32, 3), dtype=np.uint8), None
    from ..data.faceset import FaceSet

    faces = FaceSet.load(faceset)
    if "test" in set(faces.meta["split"]):
        faces = faces.split("test")
    live = np.flatnonzero(faces.is_live)[:crops]
    spoof = np.flatnonzero(~faces.is_live)[:crops]
    chosen = np.concatenate([live, spoof])
    return np.ascontiguousarray(faces.images[chosen]), faces.is_live[chosen]


def _recorded_faceset(source: str, info: dict[str, Any]) -> Path | None:
    """The FaceSet a fasrobust checkpoint was trained on (model.json records it), if it is still there."""
    if info.get("adapter") != "torch":
        return None
    from ..models.checkpoint import recorded_faceset

    return recorded_faceset(source)


def _check_size(target: Any, images: Any, faceset: Path | None) -> None:
    size = target.input_size
    if faceset is not None and size is not None and images.shape[1] != size:
        raise ConfigError(f"{faceset}: the FaceSet has {images.shape[1]}x{images.shape[1]} crops but the model "
                          f"takes {size}x{size}; prepare it with `fasrobust prepare --size {size}`, or pass --resize")


def _report_scores(scores: Any, is_live: Any, threshold: float) -> None:
    import numpy as np

    called_live = scores >= threshold
    typer.echo(f"scores: min {scores.min():.4f}, median {np.median(scores):.4f}, max {scores.max():.4f} "
               f"(threshold {threshold:g})")
    if is_live is None:
        typer.echo(f"called live: {int(called_live.sum())} of {len(scores)} random images "
                   "(give --faceset to check the live direction)")
        return
    for name, mask in (("live", is_live), ("spoof", ~is_live)):
        if mask.any():
            typer.echo(f"{name} crops: {int(mask.sum())}, called live {int(called_live[mask].sum())}, "
                       f"mean P(live) {scores[mask].mean():.4f}")
    live_wrong = is_live.any() and called_live[is_live].mean() < 0.5
    reversed_means = is_live.any() and (~is_live).any() and scores[is_live].mean() < scores[~is_live].mean()
    if live_wrong or reversed_means:
        typer.secho("warning: the live direction looks inverted (" + (
            "most live crops are called spoof" if live_wrong else "spoof crops score higher than live ones") +
            "); check --spoof-score, --live-index, --channels and the scaling", fg="yellow", err=True)


def probe(**values: Any) -> None:
    """Show how fasrobust reads a model, check it, and score a few crops."""
    from ..targets import check_target

    opened = open_target(values.pop("target"), values)
    with opened.target as target:
        info = target.description()
        typer.echo(f"target: {opened.source}")
        typer.echo(f"target id: {opened.target_id}")
        for key in ("adapter", "inputs", "outputs", "layout", "channels", "range", "input_size", "resize",
                    "answers", "output_kind", "output_name", "live_index", "decision", "live_direction",
                    "threshold"):
            if info.get(key) is not None:
                value = info[key]
                typer.echo(f"  {key}: {json.dumps(value) if isinstance(value, list | dict) else value}")
        faceset = values.get("faceset") or _recorded_faceset(opened.source, info)
        images, is_live = _sample(faceset, values.get("crops", 16), target.input_size)
        _check_size(target, images, faceset)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check = check_target(target, images)
        typer.echo(f"sanity check: {check.images} images, repeat diff {check.max_repeat_diff:.3g}, batch vs "
                   f"single diff {check.max_batch_diff:.3g}")
        for warning in caught:
            typer.secho(f"warning: {warning.message}", fg="yellow", err=True)
        scores = target(images)
        _report_scores(scores, is_live, target.threshold)


probe.__signature__ = inspect.Signature([*_OWN, *TARGET_PARAMETERS])  # type: ignore[attr-defined]
app.command("probe")(probe)
