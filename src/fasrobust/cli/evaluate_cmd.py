"""`fasrobust evaluate RUN_DIR --faceset DIR`: score a trained model on a FaceSet's dev and test splits,
write metrics.json into the run directory and print the metrics with the source of each threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from ..progress import console
from .app import app

#: (key in metrics.json, what the table calls it, printed as a percentage)
ROWS: tuple[tuple[str, str, bool], ...] = (
    ("accuracy", "ACC", True),
    ("precision", "precision (spoof)", True),
    ("recall", "recall (spoof)", True),
    ("hter_eer", "HTER", True),
    ("far_eer", "FAR", True),
    ("frr_eer", "FRR", True),
    ("eer", "EER (threshold split)", True),
    ("eer_test", "EER (test)", True),
    ("apcer_eer", "APCER", True),
    ("bpcer_eer", "BPCER", True),
    ("acer_eer", "ACER", True),
    ("hter_fixed", "HTER", True),
    ("apcer_fixed", "APCER", True),
    ("bpcer_fixed", "BPCER", True),
    ("acer_fixed", "ACER", True),
    ("auc", "ROC AUC", False),
)


@app.command("evaluate")
def evaluate_command(
    run_dir: Path = typer.Argument(..., help="Run directory with model.safetensors and model.json."),
    faceset: Path = typer.Option(..., "--faceset", "-f", help="FaceSet folder (from 'fasrobust prepare')."),
    out: Path = typer.Option(None, "--out", "-o", help="Write metrics.json here (a folder or a .json path) "
                             "instead of the run directory."),
    dev_split: str | None = typer.Option(None, "--dev-split", help="Split the EER threshold is chosen on "
                                         "[dev; without a dev split: train, and metrics.json says so]."),
    test_split: str = typer.Option("test", "--test-split", help="Split the metrics are reported on."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when available), cpu, cuda, cuda:1, ..."),
) -> None:
    """Score a trained model on a FaceSet and write metrics.json."""
    from ..training.evaluate import evaluate, metrics_path

    record = evaluate(run_dir, faceset, dev_split=dev_split, test_split=test_split, out=out, device=device)
    Console().print(metrics_table(record))
    if record["threshold_warning"]:
        console.print(f"[yellow]warning:[/] {record['warning']}")
    typer.echo(str(metrics_path(run_dir, out)))


def metrics_table(record: dict[str, Any]) -> Table:
    """Metric, frame level, video level, threshold source; per-attack-type APCER rows after the others."""
    frame, video = record["metrics"]["frame"], record["metrics"]["video"]
    table = Table(title=f"{record['faceset']['test_split']} split ({_counts(record)})")
    for column, justify in (("metric", "left"), ("frame", "right"), ("video", "right"), ("threshold", "left")):
        table.add_column(column, justify=justify)
    for key, name, percent in ROWS:
        entry = frame[key]
        table.add_row(name, _format(entry["value"], percent), _format(video[key]["value"], percent),
                      _where(entry))
    for suffix in ("eer", "fixed"):
        key = f"apcer_per_type_{suffix}"
        for kind, value in frame[key]["value"].items():
            table.add_row(f"APCER {kind}", _format(value, True), _format(video[key]["value"].get(kind), True),
                          _where(frame[key]))
    return table


def _where(entry: dict[str, Any]) -> str:
    if entry["threshold"] is None or entry["source"].startswith("fixed"):
        return entry["source"]
    return f"{entry['source']} (t = {entry['threshold']:.6g})"


def _format(value: float | None, percent: bool) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.2f} %" if percent else f"{value:.4f}"


def _counts(record: dict[str, Any]) -> str:
    frames, videos = record["counts"]["frame"]["test"], record["counts"]["video"]["test"]
    return (f"{frames['live']} live / {frames['spoof']} spoof frames, "
            f"{videos['live']} live / {videos['spoof']} spoof videos")
