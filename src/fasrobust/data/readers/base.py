"""Database readers: the first step of the data stage (database root -> `Recording`s -> prepare).

A reader only lists and names files; it never decodes a video, so `fasrobust inspect` is instant
on a full database. Each database is one module registered by name with `@register_reader`;
`get_reader(name, **options)` builds one, validating its options (a pydantic `Options` model per
reader, so a CLI string like `support=hand` becomes a typed value or a one-line ConfigError).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ...errors import ConfigError, DataError
from ...registry import Registry
from ...settings import Settings
from ..records import Recording

if TYPE_CHECKING:
    import pandas as pd

VIDEO_SUFFIXES = frozenset({".mov", ".avi", ".mp4", ".mkv", ".webm"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})


@dataclass
class ScanResult:
    """What a reader found: the recordings of the chosen protocol, and the files that look like
    recordings but could not be placed, as (path relative to the root, reason)."""

    recordings: list[Recording]
    unplaced: list[tuple[str, str]] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """One row per recording: source, path, label, attack_type, subject, split, annotations, extras..."""
        import pandas as pd  # here, not at the top: `fasrobust inspect --help` needs the readers, not pandas

        rows = [
            {"source": r.source, "path": str(r.path), "label": r.label.value, "attack_type": r.attack_type,
             "subject": r.subject, "split": r.split.value, "database": r.database,
             "annotations": "" if r.annotations is None else str(r.annotations), **dict(r.extras)}
            for r in self.recordings
        ]
        return pd.DataFrame(rows)


class Unplaced(ValueError):
    """A file that looks like a recording but cannot be placed; the message is the reason."""


class NoOptions(Settings):
    """Readers without options accept none (an unknown key is a ConfigError)."""


class DatabaseReader(ABC):
    """Lists one database's recordings with their label, attack type, subject and split.

    Subclasses set `description`, `layout` (said in the error for a root with nothing in it),
    `protocols`/`default_protocol` and an `Options` model, and implement `_scan`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    layout: ClassVar[str] = ""
    protocols: ClassVar[tuple[str, ...]] = ("default",)
    default_protocol: ClassVar[str] = "default"
    Options: ClassVar[type[Settings]] = NoOptions

    def __init__(self, **options: Any) -> None:
        self.options = self.Options.build(options, source=f"{self.name} reader options")

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.model_dump(mode="json").items())
        return f"{type(self).__name__}({opts})"

    def scan(self, root: str | Path, protocol: str | None = None) -> ScanResult:
        """All recordings of `protocol` (default: `default_protocol`) under `root`, sorted by source."""
        root = Path(root).expanduser()
        protocol = self.check_protocol(protocol)
        self._check_root(root)
        result = self._scan(root.resolve(), protocol)
        result.recordings.sort(key=lambda r: r.source)
        result.unplaced.sort()
        if not result.recordings:
            hint = ""
            if result.unplaced:
                path, reason = result.unplaced[0]
                hint = f" ({len(result.unplaced)} file(s) could not be placed, e.g. {path}: {reason})"
            raise DataError(f"no {self.name} recordings found{hint}: expected {self.layout}", root)
        return result

    def check_protocol(self, protocol: str | None) -> str:
        if protocol is None:
            return self.default_protocol
        if protocol not in self.protocols:
            raise ConfigError(f"unknown {self.name} protocol {protocol!r} (known: {', '.join(self.protocols)})")
        return protocol

    def _check_root(self, root: Path) -> None:
        if not root.exists():
            raise DataError("database root does not exist", root)
        if not root.is_dir():
            raise DataError(f"database root is not a folder (the {self.name} reader expects {self.layout})", root)

    @abstractmethod
    def _scan(self, root: Path, protocol: str) -> ScanResult:
        """Recordings under an existing folder `root` (absolute); order does not matter."""


def _named(name: str, cls: type[DatabaseReader]) -> None:
    if not cls.description or not cls.layout:
        raise TypeError(f"reader {name!r} must declare a description and a layout")
    cls.name = name


#: Every database reader: the modules of this package, and plug-ins of the entry-point group
#: `fasrobust.readers`. Each declares its smoke settings: a stand-in tree with the database's real file
#: names, {"files": {relative path: text}, "recordings": how many the reader finds in it}.
READERS: Registry[type[DatabaseReader]] = Registry("database", package="fasrobust.data.readers",
                                                   group="fasrobust.readers", check=_named)


def register_reader(name: str, *, aliases: tuple[str, ...] = (), smoke: dict[str, Any] | None = None
                    ) -> Callable[[type], type]:
    """Class decorator: make a reader available to `get_reader(name)` (or any of its `aliases`) and the CLI;
    its description is the class's `description`."""

    def decorate(cls: type[DatabaseReader]) -> type[DatabaseReader]:
        return READERS.register(name, description=cls.description, smoke=smoke, aliases=tuple(aliases))(cls)

    return decorate


def available_readers() -> list[str]:
    return READERS.names()


def reader_class(name: str) -> type[DatabaseReader]:
    key = str(name).strip().lower()
    for entry in READERS.entries():
        if key in entry.meta["aliases"]:
            return entry.target
    return READERS.get(key)


def get_reader(name: str, **options: Any) -> DatabaseReader:
    """A reader by registered name (or alias such as 'replay', 'casia', 'rose'), with its options."""
    return reader_class(name)(**options)


def iter_files(root: Path, suffixes: frozenset[str] | None = None) -> Iterator[Path]:
    """Files under `root` (relative paths, sorted), skipping hidden files and folders; with `suffixes`,
    only those whose lower-cased suffix is listed. Symbolic links to folders are followed (people link
    a database in from another disk), each real folder once, so a link loop cannot recurse forever."""
    seen: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        base = Path(folder).relative_to(root)
        for name in sorted(files):
            if name.startswith("."):
                continue
            if suffixes is None or Path(name).suffix.lower() in suffixes:
                yield base / name


def find_annotation(root: Path, relative: Path, folders: tuple[Path, ...]) -> Path | None:
    """The `.face` file of a recording: `<folder>/<relative path with .face suffix>` for each folder in
    `folders` (in order, e.g. a `face-locations/` mirror), then the same name next to the recording."""
    face_name = relative.with_suffix(".face")
    for folder in (*folders, root):
        candidate = folder / face_name
        if candidate.is_file():
            return candidate
    return None
