"""Progress bars for every stage (rich), quiet when output is not a terminal or when asked."""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

#: Messages for people go to stderr so stdout stays parseable.
console = Console(stderr=True)


def progress_bar(*, disable: bool | None = None) -> Progress:
    """A progress bar with a free-text field `info` (loss, success rate, queries/s ...)."""
    if disable is None:
        disable = bool(os.environ.get("FASROBUST_QUIET")) or not sys.stderr.isatty()
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        disable=disable,
        transient=False,
    )
