"""CSV manifest reader: the way in for any database the other readers do not know.

The root is the CSV file itself, or a folder holding it (option `manifest`, default manifest.csv).
Columns (header names in any case): `path`, `label`, `split` required; `subject`, `attack_type`
optional; any other column is kept in the recording's extras. Paths are relative to the CSV's folder and
must stay inside it (a manifest is input like any other: `../../etc/passwd` is refused, in one line naming
the row); an absolute path, or one outside the folder, needs `--reader-option allow_outside=true`. Labels
accept the usual spellings (real, genuine, attack, fake...), splits train/dev/test and
devel/val/validation.

What is fatal and what is not: a broken manifest (missing required column, empty cell, unknown
label or split, a live row with an attack type) is a one-line DataError naming the CSV and the row,
because guessing would silently change the experiment. A listed file that does not exist, or a path
listed twice, only makes that row unplaced, so a partial copy of a database can still be inspected
and used; `fasrobust inspect` lists those rows.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ...errors import DataError
from ...labels import BONA_FIDE, Label
from ...settings import Settings
from ..records import Recording
from .base import DatabaseReader, ScanResult, register_reader
from .folder import SPLIT_FOLDERS

REQUIRED = ("path", "label", "split")
OPTIONAL = ("subject", "attack_type")
LIVE_ATTACK_TYPES = {"", BONA_FIDE, "live", "bonafide", "bona-fide", "none"}


class CsvOptions(Settings):
    manifest: str = "manifest.csv"  # file name looked for when the root is a folder
    allow_outside: bool = False  # rows may name files outside the CSV's folder (absolute paths, ../)


@register_reader("csv", aliases=("manifest",), smoke={"files": {
    "manifest.csv": "path,label,split\nlive/a.png,live,train\nspoof/b.png,spoof,train\n", "live/a.png": "",
    "spoof/b.png": ""}, "recordings": 2})
class CsvReader(DatabaseReader):
    description = "A CSV manifest: path,label,split[,subject,attack_type] (paths relative to the CSV)"
    layout = "a CSV file with columns path,label,split[,subject,attack_type]"
    Options = CsvOptions

    def _manifest(self, root: Path) -> Path:
        return root / self.options.manifest if root.is_dir() else root

    def _check_root(self, root: Path) -> None:
        if not root.exists():
            raise DataError("manifest does not exist", root)
        if root.is_dir() and not (root / self.options.manifest).is_file():
            raise DataError(f"no {self.options.manifest} in this folder (pass the CSV file, or "
                            f"--option manifest=NAME)", root)

    def _scan(self, root: Path, protocol: str) -> ScanResult:
        manifest = self._manifest(root)
        base = manifest.parent
        recordings: list[Recording] = []
        unplaced: list[tuple[str, str]] = []
        first_row: dict[str, int] = {}
        for number, row in _rows(manifest):
            recording = self._parse(manifest, base, number, row)
            if recording.source in first_row:
                unplaced.append((recording.source, f"line {number}: listed twice (first at line "
                                                   f"{first_row[recording.source]})"))
            elif not recording.path.is_file():
                unplaced.append((recording.source, f"line {number}: file not found"))
            else:
                first_row[recording.source] = number
                recordings.append(recording)
        return ScanResult(recordings, unplaced)

    def _parse(self, manifest: Path, base: Path, number: int, row: dict[str, str]) -> Recording:
        def fail(message: str) -> DataError:
            return DataError(f"line {number}: {message}", manifest)

        for column in REQUIRED:
            if not row[column]:
                raise fail(f"empty {column!r}")
        try:
            label = Label.parse(row["label"])
        except ValueError as exc:
            raise fail(str(exc)) from None
        split = SPLIT_FOLDERS.get(row["split"].lower())
        if split is None:
            raise fail(f"unknown split {row['split']!r} (expected train, dev or test)")
        attack_type = row.get("attack_type", "")
        if label is Label.LIVE:
            if attack_type.lower() not in LIVE_ATTACK_TYPES:
                raise fail(f"a live row cannot have attack_type {attack_type!r}")
            attack_type = BONA_FIDE
        elif attack_type.lower() in (BONA_FIDE, "bonafide"):
            raise fail("a spoof row cannot have attack_type 'bona_fide'")
        source = row["path"].replace("\\", "/")
        path = Path(source)
        if not self.options.allow_outside:
            inside = (base / path).resolve()
            if path.is_absolute() or not inside.is_relative_to(base.resolve()):
                raise fail(f"path {source!r} leads outside the manifest's folder; pass --reader-option "
                           "allow_outside=true if the files are meant to be there")
        extras = {k: v for k, v in row.items() if k not in REQUIRED + OPTIONAL and v}
        return Recording(path=path if path.is_absolute() else base / path, label=label,
                         attack_type=attack_type or "spoof", subject=row.get("subject") or path.stem,
                         split=split, database=self.name, source=source, extras=extras)


def _rows(manifest: Path):
    """(line number, {column: stripped value}) for each data row (the header is line 1); a header
    without the required columns is a one-line DataError."""
    try:
        handle = manifest.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"cannot read manifest: {exc.strerror}", manifest) from None
    with handle:
        reader = csv.reader(handle)
        try:
            columns = _header(next(reader, None), manifest)
            for cells in reader:
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) != len(columns):
                    raise DataError(f"line {reader.line_num}: {len(cells)} cells for {len(columns)} columns",
                                    manifest)
                yield reader.line_num, {c: v.strip() for c, v in zip(columns, cells, strict=True)}
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataError(f"not a readable CSV near line {reader.line_num}: {exc}", manifest) from None


def _header(header: list[str] | None, manifest: Path) -> list[str]:
    if not header:
        raise DataError("empty manifest: expected a header row path,label,split", manifest)
    columns = [c.strip().lower() for c in header]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise DataError(f"missing required column(s) {', '.join(missing)} (found: {', '.join(columns)})",
                        manifest)
    if len(set(columns)) != len(columns):
        raise DataError(f"repeated column names in the header ({', '.join(columns)})", manifest)
    return columns
