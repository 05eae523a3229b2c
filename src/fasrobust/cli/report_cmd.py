"""`fasrobust report RUN_DIR`: tables, figures and index.html from a run directory's results.sqlite
(made by `fasrobust run`, `fasrobust demo` or `fasrobust attack`); optionally the store's rows as CSV or
Parquet. Prints the path of index.html on stdout."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from ..errors import DataError
from ..progress import console
from .app import app


class ExportFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


@app.command("report")
def report(
    run_dir: Path = typer.Argument(..., help="Run directory holding results.sqlite.", show_default=False),
    out: Path | None = typer.Option(None, "--out", "-o", help="Report folder [RUN_DIR/report]."),
    export: ExportFormat | None = typer.Option(None, "--export", help="Also write the store's jobs, attacks "
                                               "and failures tables as csv or parquet under OUT/export/."),
) -> None:
    """Render the report (tables, figures, HTML with the adversarial gallery) from stored results."""
    from ..experiments.run_dir import RunDir
    from ..experiments.store import ResultsStore
    from ..report import build_report

    layout = RunDir(run_dir)
    if not layout.store_file.is_file():
        raise DataError(f"no {RunDir.STORE} here (run 'fasrobust run', 'demo' or 'attack' first)", run_dir)
    if out is not None and out.exists() and not out.is_dir():
        raise DataError("--out names a file; the report is a folder (choose a new or existing folder)", out)
    if export is ExportFormat.PARQUET:
        from ..errors import require

        require("pyarrow", "parquet", "writing Parquet files")
    index = build_report(run_dir, out=out)
    if export is not None:
        with ResultsStore(layout.store_file) as store:
            written = store.export((out or layout.report_dir) / "export", export.value)
        console.print(f"exported {', '.join(p.name for p in written)} to {written[0].parent}")
    typer.echo(str(index))
