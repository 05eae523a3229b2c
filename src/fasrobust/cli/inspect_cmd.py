"""`fasrobust inspect ROOT --database NAME`: what a reader finds in a database, before `prepare`.

Prints the recordings per split x label x attack type (with subjects), the totals, and the files
that look like recordings but could not be placed, with the reason. Only names files, never decodes
a video, so it is instant on a full database and is the first thing to run on a new copy.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..data.readers import ScanResult, available_readers, get_reader
from ..data.records import Split
from ..errors import ConfigError
from ..labels import Label
from .app import app


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    """['key=value', ...] -> {'key': 'value'}; dashes in keys become underscores."""
    options: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"--option expects key=value, got {pair!r}")
        if key in options:
            raise ConfigError(f"--option {key} given twice")
        options[key] = value.strip()
    return options


@app.command("inspect")
def inspect_command(
    root: Path = typer.Argument(..., help="Database root folder (for --database csv: the CSV file or its folder)."),
    database: str = typer.Option(..., "--database", "-d", help=f"Reader: {', '.join(available_readers())}."),
    protocol: str | None = typer.Option(None, "--protocol", "-p", help="Protocol (default: the reader's)."),
    option: list[str] | None = typer.Option(None, "--option", "-o",
                                            help="Reader option key=value, repeatable (e.g. dev_split=gradiant)."),
    show_unplaced: int = typer.Option(20, "--show-unplaced", min=0,
                                      help="List at most this many files that could not be placed."),
) -> None:
    """Count a database's recordings per split, label and attack type, without decoding anything."""
    reader = get_reader(database, **parse_options(option))
    protocol = reader.check_protocol(protocol)
    scan = reader.scan(root, protocol=protocol)
    console = Console(highlight=False)
    console.print(_summary(reader.name, protocol, root, scan), markup=False, soft_wrap=True)
    console.print(counts_table(scan))
    _print_unplaced(console, scan.unplaced, show_unplaced)


def _summary(name: str, protocol: str, root: Path, scan: ScanResult) -> str:
    labels = Counter(r.label for r in scan.recordings)
    annotated = sum(r.annotations is not None for r in scan.recordings)
    subjects = len({r.subject for r in scan.recordings})
    return (f"{name} (protocol {protocol}) at {root}: {len(scan.recordings)} recordings "
            f"(live {labels[Label.LIVE]}, spoof {labels[Label.SPOOF]}), {subjects} subjects, "
            f"{annotated} with face annotations, {len(scan.unplaced)} unplaced")


def counts_table(scan: ScanResult) -> Table:
    """Rows: each split's (label, attack type) counts, the split's total, and the grand total."""
    counts: Counter[tuple[Split, Label, str]] = Counter()
    subjects: defaultdict[tuple, set[str]] = defaultdict(set)
    for r in scan.recordings:
        counts[r.split, r.label, r.attack_type] += 1
        for key in ((r.split, r.label, r.attack_type), (r.split,), ()):
            subjects[key].add(r.subject)
    table = Table(title="recordings per split, label and attack type")
    for column in ("split", "label", "attack type"):
        table.add_column(column)
    table.add_column("recordings", justify="right")
    table.add_column("subjects", justify="right")
    for split in Split:
        keys = sorted((k for k in counts if k[0] is split), key=lambda k: (k[1] is not Label.LIVE, k[2]))
        if not keys:
            continue
        for key in keys:
            table.add_row(split.value, key[1].value, key[2], str(counts[key]), str(len(subjects[key])))
        total = sum(counts[k] for k in keys)
        table.add_row(split.value, "all", "all", str(total), str(len(subjects[(split,)])), style="bold")
        table.add_section()
    table.add_row("all", "all", "all", str(len(scan.recordings)), str(len(subjects[()])), style="bold")
    return table


def _print_unplaced(console: Console, unplaced: list[tuple[str, str]], limit: int) -> None:
    if not unplaced:
        return
    console.print(f"{len(unplaced)} file(s) could not be placed:", markup=False)
    for path, reason in unplaced[:limit]:
        console.print(f"  {path}: {reason}", markup=False, soft_wrap=True)
    if len(unplaced) > limit:
        console.print(f"  ... and {len(unplaced) - limit} more (--show-unplaced {len(unplaced)} lists all)",
                      markup=False)
