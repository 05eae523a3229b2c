"""Folder reader: a user's own data as `[<split>/]<label>/[<attack type>/][<subject>/]<file>`.

- label folders: live/real/genuine/bona_fide/bonafide and spoof/attack/fake (any case);
- split folders (optional, right above the label folder): train/training, dev/devel/val/valid/validation,
  test/testing; folders above those are ignored, so `mydata/train/live/...` works from any root;
- recordings: videos (.mov .avi .mp4 .mkv .webm) and still images (.png .jpg .jpeg .bmp .tif .tiff);
- attack type: the first folder under the spoof folder when the file lies deeper, else 'spoof';
- subject (option `subject`): `parent` (default) = the folder holding the file when it lies below the
  label (and attack-type) folder, else the file's stem; `stem-prefix` = the stem up to the first
  `subject_separator` (default '_'), e.g. `alice_03.mp4` -> 'alice'.
- a `.face` file next to a recording (same stem) is its annotation.

Recordings outside split folders are all 'test' (option `assign_split=none`, the default), or, with
`assign_split=subjects`, split by subject: subjects are ordered by the SHA-256 of their name and the
first `train_fraction` of them go to train, the next `dev_fraction` to dev, the rest to test. The
order depends only on the names, so adding a subject never moves the others between splits.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from enum import StrEnum
from pathlib import Path

from pydantic import Field, model_validator

from ...labels import BONA_FIDE, Label
from ...settings import Settings
from ..records import Recording, Split
from .base import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    DatabaseReader,
    ScanResult,
    Unplaced,
    find_annotation,
    iter_files,
    register_reader,
)

LABEL_FOLDERS = {
    **{k: Label.LIVE for k in ("live", "real", "genuine", "bona_fide", "bonafide", "bona-fide")},
    **{k: Label.SPOOF for k in ("spoof", "attack", "attacks", "fake", "presentation_attack")},
}
SPLIT_FOLDERS = {
    **{k: Split.TRAIN for k in ("train", "training")},
    **{k: Split.DEV for k in ("dev", "devel", "val", "valid", "validation")},
    **{k: Split.TEST for k in ("test", "testing")},
}


class SubjectRule(StrEnum):
    PARENT = "parent"
    STEM_PREFIX = "stem-prefix"


class AssignSplit(StrEnum):
    NONE = "none"
    SUBJECTS = "subjects"


class FolderOptions(Settings):
    subject: SubjectRule = SubjectRule.PARENT
    subject_separator: str = Field("_", min_length=1)
    assign_split: AssignSplit = AssignSplit.NONE
    train_fraction: float = Field(0.6, ge=0, le=1)
    dev_fraction: float = Field(0.2, ge=0, le=1)

    @model_validator(mode="after")
    def _fractions(self) -> FolderOptions:
        if self.train_fraction + self.dev_fraction > 1:
            raise ValueError("train_fraction + dev_fraction must be at most 1")
        return self


@register_reader("folder", aliases=("folders",), smoke={"files": {"live/a.png": "", "spoof/b.png": "", "spoof/c.mov": ""},
    "recordings": 3})
class FolderReader(DatabaseReader):
    description = "Any tree of live/ and spoof/ folders (optionally under train/dev/test), videos or images"
    layout = "live/ and spoof/ folders (or real/attack/fake ...), optionally under train/, dev/, test/"
    Options = FolderOptions

    def _scan(self, root: Path, protocol: str) -> ScanResult:
        placed: list[tuple[Recording, bool]] = []  # (recording, its split came from a folder)
        unplaced = []
        for rel in iter_files(root, VIDEO_SUFFIXES | IMAGE_SUFFIXES):
            try:
                placed.append(self._parse(root, rel))
            except Unplaced as exc:
                unplaced.append((rel.as_posix(), str(exc)))
        if self.options.assign_split is AssignSplit.SUBJECTS:
            placed = self._assign(placed)
        return ScanResult([recording for recording, _ in placed], unplaced)

    def _parse(self, root: Path, rel: Path) -> tuple[Recording, bool]:
        folders = [p.lower() for p in rel.parts[:-1]]
        at = next((i for i, name in enumerate(folders) if name in LABEL_FOLDERS), None)
        if at is None:
            raise Unplaced("not under a live/ or spoof/ folder")
        label = LABEL_FOLDERS[folders[at]]
        split = SPLIT_FOLDERS.get(folders[at - 1]) if at > 0 else None
        below = list(rel.parts[at + 1:-1])  # folders between the label folder and the file
        attack_type = BONA_FIDE
        if label is Label.SPOOF:
            attack_type = below.pop(0) if below else "spoof"
        if self.options.subject is SubjectRule.STEM_PREFIX:
            subject = rel.stem.split(self.options.subject_separator)[0]
        else:
            subject = below[-1] if below else rel.stem
        recording = Recording(path=root / rel, label=label, attack_type=attack_type, subject=subject,
                              split=split or Split.TEST, database=self.name, source=rel.as_posix(),
                              annotations=find_annotation(root, rel, ()),
                              extras={"medium": "image" if rel.suffix.lower() in IMAGE_SUFFIXES else "video"})
        return recording, split is not None

    def _assign(self, placed: list[tuple[Recording, bool]]) -> list[tuple[Recording, bool]]:
        """Subject-disjoint train/dev/test for the recordings that no split folder placed."""
        free = sorted({r.subject for r, from_folder in placed if not from_folder},
                      key=lambda s: hashlib.sha256(s.encode()).hexdigest())
        n_train = round(len(free) * self.options.train_fraction)
        n_dev = round(len(free) * self.options.dev_fraction)
        split_of = {s: Split.TRAIN if i < n_train else Split.DEV if i < n_train + n_dev else Split.TEST
                    for i, s in enumerate(free)}
        out = []
        for recording, from_folder in placed:
            if not from_folder:
                recording = replace(recording, split=split_of[recording.subject])
            out.append((recording, from_folder))
        return out
