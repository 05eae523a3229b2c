"""`fasrobust prepare`: a database on disk -> a balanced FaceSet, with a summary of what was kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ..data.detect import AUTO, DETECTORS
from ..data.readers import READERS
from ..errors import ConfigError
from ..progress import console
from .app import app

DETECTOR_HELP = "; ".join([f"{AUTO} (mtcnn when installed, else cascade)", *(f"{e.name} ({e.description})"
                                                                             for e in DETECTORS.entries())])


@app.command("prepare")
def prepare_command(
    database: str = typer.Option(None, "--database", "-d", help=f"{', '.join(READERS.names())}, or 'sample' "
                                 "(embedded synthetic database, needs no root)"),
    root: Path = typer.Option(None, "--root", help="The database folder (or CSV manifest)."),
    out: Path = typer.Option(None, "--out", "-o", help="FaceSet folder to write."),
    config: Path = typer.Option(None, "--config", "-c", help="YAML settings; options given here override it."),
    protocol: str = typer.Option(None, "--protocol", help="Database protocol, e.g. grandtest, print."),
    frames: int = typer.Option(None, "--frames", help="Frames sampled uniformly per video [10]."),
    detector: str = typer.Option(None, "--detector", help=f"{DETECTOR_HELP} [auto]."),
    no_face: str = typer.Option(None, "--no-face", help="Frames without a face: skip, previous, annotation [skip]."),
    margin: float = typer.Option(None, "--margin", help="Share of the face box added on each side [0.2]."),
    border: str = typer.Option(None, "--border", help="Crops crossing the frame edge: shift or pad [shift]."),
    size: int = typer.Option(None, "--size", help="Crop side in pixels [32]."),
    images: str = typer.Option(None, "--images", help="Non-RGB still images: convert or reject [convert]."),
    balance: bool = typer.Option(None, "--balance/--no-balance", help="Equal live and spoof counts per split."),
    caps: str = typer.Option(None, "--caps", help="'table1' (the paper's sizes) or e.g. 'train=240,test=100/100'."),
    allow_missing_class: bool = typer.Option(None, "--allow-missing-class/--no-allow-missing-class",
                                             help="Warn instead of failing when a split lacks a class."),
    seed: int = typer.Option(None, "--seed", help="Seed of the balanced sampling [0]."),
    workers: int = typer.Option(None, "--workers", "-w", help="Worker processes [1]."),
    on_error: str = typer.Option(None, "--on-error", help="Unreadable files: continue or stop [continue]."),
    keep_cache: bool = typer.Option(None, "--keep-cache/--no-keep-cache",
                                    help="Keep cached crops made with other settings or of changed files "
                                         "(by default a finished run deletes them)."),
    reader_option: list[str] = typer.Option(None, "--reader-option", help="Reader option KEY=VALUE (repeatable)."),
) -> None:
    """Sample frames, find faces, crop and balance a database into a FaceSet."""
    from ..data.prepare import PrepareSettings, prepare

    given = {"database": database, "root": root, "out": out, "protocol": protocol, "frames_per_video": frames,
             "detector": detector, "no_face": no_face, "margin": margin, "border": border, "size": size,
             "images": images, "balance": balance, "allow_missing_class": allow_missing_class, "seed": seed,
             "workers": workers, "on_error": on_error, "keep_cache": keep_cache,
             "caps": None if caps is None else parse_caps(caps),
             "reader_options": _parse_pairs(reader_option) if reader_option else None}
    overrides = {k: v for k, v in given.items() if v is not None}
    if config is not None:
        settings = PrepareSettings.load(config, **overrides)
    else:
        settings = PrepareSettings.build(overrides, source="command line")
    faces = prepare(settings)
    _summary(faces.info, faces.counts())
    typer.echo(str(faces.root))


#: Dropped rows named in the summary.
_SHOWN = 10


def parse_caps(text: str) -> str | dict[str, dict[str, int]]:
    """'table1', or 'split=N' (both classes) / 'split=LIVE/SPOOF', comma-separated."""
    if text.strip().lower() == "table1":
        return "table1"
    caps: dict[str, dict[str, int]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        split, _, counts = part.partition("=")
        numbers = counts.split("/")
        try:
            live, spoof = (int(numbers[0]), int(numbers[-1])) if len(numbers) <= 2 else (None, None)
        except ValueError:
            live = spoof = None
        if not split or live is None:
            raise ConfigError(f"--caps: cannot read '{part}' (expected table1, SPLIT=N or SPLIT=LIVE/SPOOF)")
        caps[split.strip()] = {"live": live, "spoof": spoof}
    return caps


def _parse_pairs(pairs: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--reader-option: expected KEY=VALUE, got '{pair}'")
        options[key.strip()] = value.strip()
    return options


def _summary(info: dict[str, Any], counts: dict[str, dict[str, int]]) -> None:
    synthetic = " [bold magenta](SYNTHETIC sample database)[/]" if info.get("synthetic") else ""
    table = Table(title=f"FaceSet: {info.get('database')}{synthetic}, detector {info['detector'].get('name')}")
    for column in ("split", "live", "spoof", "before balancing (live/spoof)"):
        table.add_column(column, justify="right" if column != "split" else "left")
    before = info.get("balance", {}).get("before", {})
    for split in sorted(counts):
        was = before.get(split, {})
        table.add_row(split, str(counts[split].get("live", 0)), str(counts[split].get("spoof", 0)),
                      f"{was.get('live', 0)}/{was.get('spoof', 0)}")
    console.print(table)
    faces, rec = info["no_face"], info["recordings"]
    console.print(f"frames sampled {faces['frames_sampled']}, face found {faces['face_found']}, no face "
                  f"{faces['no_face']} (skipped {faces['no_face_skipped']}, previous box "
                  f"{faces['no_face_previous_box']}, annotation {faces['no_face_annotation']})")
    console.print(f"recordings {rec['scanned']}: extracted {rec['extracted']}, from cache "
                  f"{info['cache']['hits']}, unreadable {rec['failed']}, unplaced files {rec['unplaced']}")
    if info["cache"].get("pruned"):
        console.print(f"cache: removed {info['cache']['pruned']} entries not used by this run "
                      f"({info['cache']['pruned_bytes'] / 1e6:.1f} MB; --keep-cache keeps them)")
    for error in info.get("errors", [])[:5]:
        console.print(f"[yellow]unreadable:[/] {error['error']}")
    dropped = info.get("unplaced", [])
    for entry in dropped[:_SHOWN]:  # every dropped row is in faceset.json; `fasrobust inspect` lists them too
        typer.secho(f"not used: {entry['path']}" + (f" ({entry['reason']})" if entry["reason"] else ""), fg="yellow")
    if len(dropped) > _SHOWN:
        console.print(f"... and {len(dropped) - _SHOWN} more not used (listed in faceset.json's 'unplaced')")
