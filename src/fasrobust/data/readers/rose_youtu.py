"""ROSE-Youtu reader: `<subject>/<L>_<S>_<D>_<x>_<E>_<p>_<N>.mp4` (p = the subject folder's name).

The seven fields of the name: L the presentation (G genuine, Ps/Pq still/quivering print, Vl/Vm video
on a Lenovo/Mac screen, Mc/Mf/Mu/Ml paper masks), S talking (T/NT), D the capture device, x glasses
(g/wg), E always 'E', p the subject, N a running index. Videos are found at any depth, so the
release's extra top-level folders do not matter; the subject is the folder holding the video.

ROSE-Youtu has no official split. The split lives in a YAML file of subject lists (train/dev/test);
the package default (rose_youtu_splits.yaml) is Gradiant's, train 2-7, 9, 10 / dev 11, 12 / test 13-23.
Option `splits=PATH` replaces it. A subject in no list is reported unplaced with the reason.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import model_validator

from ...labels import BONA_FIDE, Label
from ...settings import Settings
from ..records import Recording, Split
from .base import VIDEO_SUFFIXES, DatabaseReader, ScanResult, Unplaced, iter_files, register_reader

#: L field -> attack type.
PRESENTATIONS = {
    "G": BONA_FIDE,
    "Ps": "print_still", "Pq": "print_quivering",
    "Vl": "replay_lenovo", "Vm": "replay_mac",
    "Mc": "mask_cut", "Mf": "mask_full", "Mu": "mask_upper", "Ml": "mask_lower",
}
#: D field -> device; an unknown code is kept as written rather than rejected.
DEVICES = {"HS": "hasee", "HW": "huawei", "IP": "ipad4", "5s": "iphone5s", "ZTE": "zte"}
TALKING = {"T": "yes", "NT": "no"}
GLASSES = {"g": "yes", "wg": "no"}


class RoseSplits(Settings):
    """Subject numbers of each split; a subject may be in one split only."""

    train: list[int]
    dev: list[int] = []
    test: list[int]

    @model_validator(mode="after")
    def _disjoint(self) -> RoseSplits:
        seen: dict[int, str] = {}
        for split in ("train", "dev", "test"):
            for subject in getattr(self, split):
                if subject in seen:
                    raise ValueError(f"subject {subject} is in both {seen[subject]} and {split}")
                seen[subject] = split
        return self

    def lookup(self) -> dict[int, Split]:
        return {s: Split(name) for name in ("train", "dev", "test") for s in getattr(self, name)}


def default_splits_file() -> Path:
    return Path(str(resources.files(__package__) / "rose_youtu_splits.yaml"))


class RoseOptions(Settings):
    splits: Path | None = None  # YAML file with train/dev/test subject lists (default: the packaged one)


@register_reader("rose-youtu", aliases=("rose", "rose_youtu", "roseyoutu"), smoke={"files": {"2/G_NT_HW_g_E_2_1.mp4": "", "2/Ps_T_HW_wg_E_2_2.mp4": "",
    "13/Vl_NT_HW_wg_E_13_1.mp4": ""}, "recordings": 3})
class RoseYoutuReader(DatabaseReader):
    description = "ROSE-Youtu: 20 public subjects, 5 phones, print, replay and paper-mask attacks"
    layout = "<subject>/ folders of videos named <L>_<S>_<D>_<x>_E_<subject>_<N>.mp4"
    Options = RoseOptions

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.splits = RoseSplits.load(self.options.splits or default_splits_file())

    def _scan(self, root: Path, protocol: str) -> ScanResult:
        subject_split = self.splits.lookup()
        recordings, unplaced = [], []
        for rel in iter_files(root, VIDEO_SUFFIXES):
            try:
                recordings.append(self._parse(root, rel, subject_split))
            except Unplaced as exc:
                unplaced.append((rel.as_posix(), str(exc)))
        return ScanResult(recordings, unplaced)

    def _parse(self, root: Path, rel: Path, subject_split: dict[int, Split]) -> Recording:
        fields = rel.stem.split("_")
        if len(fields) != 7 or fields[4] != "E":
            raise Unplaced("expected a name <L>_<S>_<D>_<x>_E_<subject>_<N>")
        code, talking, device, glasses, _, subject, _index = fields
        if code not in PRESENTATIONS:
            raise Unplaced(f"unknown presentation code {code!r} (known: {', '.join(PRESENTATIONS)})")
        if talking not in TALKING or glasses not in GLASSES or not subject.isdigit():
            raise Unplaced("talking must be T/NT, glasses g/wg and the subject a number")
        folder = rel.parent.name
        if not folder.isdigit() or int(folder) != int(subject):
            raise Unplaced(f"the name says subject {subject} but the video is in folder {folder or '(root)'!r}")
        split = subject_split.get(int(subject))
        if split is None:
            where = self.options.splits or "the default split file"
            raise Unplaced(f"subject {int(subject)} is in no split of {where}")
        attack_type = PRESENTATIONS[code]
        return Recording(path=root / rel, label=Label.LIVE if attack_type == BONA_FIDE else Label.SPOOF,
                         attack_type=attack_type, subject=str(int(subject)), split=split, database=self.name,
                         source=rel.as_posix(),
                         extras={"code": code, "talking": TALKING[talking], "device": DEVICES.get(device, device),
                                 "glasses": GLASSES[glasses]})
