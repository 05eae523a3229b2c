"""CASIA-FASD reader: `train_release/{1..20}/` and `test_release/{1..30}/`, 12 videos per subject.

File codes: `1`, `2`, `HR_1` real; `3`, `4`, `HR_2` warped photo; `5`, `6`, `HR_3` cut photo;
`7`, `8`, `HR_4` video replay. The `HR_*` clips are the high-resolution (1280x720) camera. Loaders
disagree on which of the numbered files is low and which normal quality, so extras record only
what the name proves: quality 'HR' or 'numbered' (and the code itself); read the resolution from the
video when it matters.

Subjects get a global id: the folder number for train, folder number + 20 for test.
CASIA has no official dev set. Option `dev_split` picks one from the train subjects:
- `none` (default): all 20 train subjects train. The paper trains on all of them (its Table 1
  counts, 360 live crops = 60 live train videos x 6 frames) and uses the fixed threshold 0.5, so no
  dev set is needed to reproduce it;
- `gradiant`: train subjects 17-20 become dev (Gradiant's bob.gradiant.face.databases);
- `bob-fold-1` .. `bob-fold-5`: bob's subject-disjoint folds of train become dev.

Face locations: `face-locations/<relative path>.face` (or the folder given by option
`face_locations`), else `<video>.face` next to the video, the layout bob's annotation files use.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from ...labels import BONA_FIDE, Label
from ...settings import Settings
from ..records import Recording, Split
from .base import (
    VIDEO_SUFFIXES,
    DatabaseReader,
    ScanResult,
    Unplaced,
    find_annotation,
    iter_files,
    register_reader,
)


class DevSplit(StrEnum):
    NONE = "none"
    GRADIANT = "gradiant"
    BOB_FOLD_1 = "bob-fold-1"
    BOB_FOLD_2 = "bob-fold-2"
    BOB_FOLD_3 = "bob-fold-3"
    BOB_FOLD_4 = "bob-fold-4"
    BOB_FOLD_5 = "bob-fold-5"


#: Train subjects that each dev_split moves to dev.
DEV_SUBJECTS: dict[DevSplit, frozenset[int]] = {
    DevSplit.NONE: frozenset(),
    DevSplit.GRADIANT: frozenset({17, 18, 19, 20}),
    DevSplit.BOB_FOLD_1: frozenset({10, 14, 16, 20}),
    DevSplit.BOB_FOLD_2: frozenset({8, 13, 18, 19}),
    DevSplit.BOB_FOLD_3: frozenset({1, 6, 11, 17}),
    DevSplit.BOB_FOLD_4: frozenset({4, 5, 7, 15}),
    DevSplit.BOB_FOLD_5: frozenset({2, 3, 9, 12}),
}

#: File code -> attack type ('bona_fide' for the real clips).
CODES: dict[str, str] = {
    "1": BONA_FIDE, "2": BONA_FIDE, "HR_1": BONA_FIDE,
    "3": "warped_photo", "4": "warped_photo", "HR_2": "warped_photo",
    "5": "cut_photo", "6": "cut_photo", "HR_3": "cut_photo",
    "7": "video_replay", "8": "video_replay", "HR_4": "video_replay",
}

#: Release folder -> (split before dev selection, number of subjects, offset to the global id).
RELEASES = {"train_release": (Split.TRAIN, 20, 0), "test_release": (Split.TEST, 30, 20)}


class CasiaOptions(Settings):
    dev_split: DevSplit = DevSplit.NONE
    face_locations: Path | None = None  # folder mirroring the database with .face files


@register_reader("casia-fasd", aliases=("casia", "casia_fasd", "casiafasd"), smoke={"files": {
    "train_release/1/1.avi": "", "train_release/1/HR_4.avi": "", "test_release/2/3.avi": ""}, "recordings": 3})
class CasiaFasdReader(DatabaseReader):
    description = "CASIA-FASD: 50 subjects, warped photo, cut photo and video replay attacks"
    layout = "train_release/{1..20}/ and test_release/{1..30}/ folders with 1..8.avi and HR_1..HR_4.avi"
    protocols = ("default",)
    default_protocol = "default"
    Options = CasiaOptions

    def _scan(self, root: Path, protocol: str) -> ScanResult:
        face_folders = tuple(p for p in (self.options.face_locations, root / "face-locations") if p is not None)
        recordings, unplaced = [], []
        for release in RELEASES:
            if not (root / release).is_dir():
                continue
            for rel in iter_files(root / release, VIDEO_SUFFIXES):
                rel = Path(release) / rel
                try:
                    recordings.append(self._parse(root, rel, face_folders))
                except Unplaced as exc:
                    unplaced.append((rel.as_posix(), str(exc)))
        return ScanResult(recordings, unplaced)

    def _parse(self, root: Path, rel: Path, face_folders: tuple[Path, ...]) -> Recording:
        split, n_subjects, offset = RELEASES[rel.parts[0]]
        if len(rel.parts) != 3:
            raise Unplaced(f"expected {rel.parts[0]}/<subject>/<code>.avi")
        folder, code = rel.parts[1], rel.stem
        if not folder.isdigit() or not 1 <= int(folder) <= n_subjects:
            raise Unplaced(f"subject folder must be 1..{n_subjects}")
        if code not in CODES:
            raise Unplaced(f"unknown file code {code!r} (expected 1..8 or HR_1..HR_4)")
        if split is Split.TRAIN and int(folder) in DEV_SUBJECTS[self.options.dev_split]:
            split = Split.DEV
        attack_type = CODES[code]
        label = Label.LIVE if attack_type == BONA_FIDE else Label.SPOOF
        extras = {"code": code, "quality": "HR" if code.startswith("HR_") else "numbered", "folder": folder}
        return Recording(path=root / rel, label=label, attack_type=attack_type, subject=str(int(folder) + offset),
                         split=split, database=self.name, source=rel.as_posix(),
                         annotations=find_annotation(root, rel, face_folders), extras=extras)
