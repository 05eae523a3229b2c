"""One recording of a database (a video, an HDF5 file or a still image) and what its name tells."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from ..labels import Label


class Split(StrEnum):
    TRAIN = "train"
    DEV = "dev"
    TEST = "test"


@dataclass(frozen=True)
class Box:
    """A face box in source-frame pixels: top-left corner, width, height."""

    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class Recording:
    """A database entry, before any decoding.

    `attack_type` is `labels.BONA_FIDE` for live recordings, else the database's attack family
    (print, replay, mask, ...). `extras` keeps what the file name encodes beyond that (capture device,
    lighting, support, ...). `annotations` points to face locations the database ships, if any.
    """

    path: Path
    label: Label
    attack_type: str
    subject: str
    split: Split
    database: str
    source: str = ""  # path relative to the database root: the recording's stable id in outputs
    annotations: Path | None = None
    extras: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.source or str(self.path)
