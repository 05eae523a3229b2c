"""Replay-Attack (Idiap) reader: `{train,devel,test}/real/*.mov` and `{split}/attack/{fixed,hand}/*.mov`.

Everything comes from the file name (see /work/shared/reference/DATASETS.md):
- real:   `client001_session01_webcam_authenticate_{adverse|controlled}_{1|2}.mov`
- attack: `attack_{print|mobile|highdef}_client001_session01_{highdef|mobile}_{photo|video}_{light}.mov`,
  support (fixed/hand) from the parent folder.
attack_type is the attack device (print, mobile = iPhone, highdef = iPad); extras keep the support,
the medium (photo/video), the device that captured the original sample and the lighting.
Enrolment clips (`enroll/`) are not used for PAD and are skipped silently. A client found under a
split that is not its own (per the published client lists) is reported as unplaced, not moved.
Face locations, when present, are `face-locations/<relative path>.face` (option `face_locations`
points elsewhere) or a `.face` file next to the video.
"""

from __future__ import annotations

from collections.abc import Callable
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


class Protocol(StrEnum):
    GRANDTEST = "grandtest"
    PRINT = "print"
    MOBILE = "mobile"
    HIGHDEF = "highdef"
    PHOTO = "photo"
    VIDEO = "video"


class Support(StrEnum):
    FIXED = "fixed"
    HAND = "hand"


class Lighting(StrEnum):
    CONTROLLED = "controlled"
    ADVERSE = "adverse"


#: Which attacks each protocol keeps, from (attack device, medium); the real set is the same in all.
PROTOCOL_ATTACKS: dict[Protocol, Callable[[str, str], bool]] = {
    Protocol.GRANDTEST: lambda device, medium: True,
    Protocol.PRINT: lambda device, medium: device == "print",
    Protocol.MOBILE: lambda device, medium: device == "mobile",
    Protocol.HIGHDEF: lambda device, medium: device == "highdef",
    Protocol.PHOTO: lambda device, medium: medium == "photo",
    Protocol.VIDEO: lambda device, medium: medium == "video",
}

SPLIT_FOLDERS = {"train": Split.TRAIN, "devel": Split.DEV, "test": Split.TEST}

#: The published client lists; a client outside its split's folder is reported, not silently used.
CLIENTS: dict[Split, frozenset[int]] = {
    Split.TRAIN: frozenset({1, 2, 4, 6, 7, 8, 12, 16, 18, 25, 27, 103, 105, 108, 110}),
    Split.DEV: frozenset({3, 5, 10, 15, 17, 22, 29, 30, 101, 111, 113, 114, 116, 118, 119}),
    Split.TEST: frozenset({9, 11, 13, 14, 19, 20, 21, 23, 24, 26, 28, 31, 102, 104, 106, 107, 109, 112, 115, 117}),
}
CLIENT_SPLIT = {client: split for split, clients in CLIENTS.items() for client in clients}

ATTACK_DEVICES = ("print", "mobile", "highdef")
CAPTURE_DEVICES = ("highdef", "mobile")
MEDIA = ("photo", "video")


class ReplayOptions(Settings):
    support: Support | None = None  # keep only fixed or hand-held attacks (real clips have no support)
    lighting: Lighting | None = None  # keep only this lighting, for real clips and attacks
    face_locations: Path | None = None  # folder mirroring the database with .face files


@register_reader("replay-attack", aliases=("replay", "replayattack", "replay_attack"), smoke={"files": {
    "train/real/client001_session01_webcam_authenticate_controlled_1.mov": "",
    "train/attack/fixed/attack_print_client001_session01_highdef_photo_adverse.mov": "",
    "devel/real/client003_session01_webcam_authenticate_adverse_1.mov": "",
    "test/attack/hand/attack_mobile_client009_session01_mobile_video_controlled.mov": ""}, "recordings": 4})
class ReplayAttackReader(DatabaseReader):
    description = "Idiap Replay-Attack: 50 clients, print/mobile/highdef attacks, fixed or hand support"
    layout = "train/, devel/ and test/ folders with real/ and attack/{fixed,hand}/ .mov files"
    protocols = tuple(p.value for p in Protocol)
    default_protocol = Protocol.GRANDTEST.value
    Options = ReplayOptions

    def _scan(self, root: Path, protocol: str) -> ScanResult:
        keep_attack = PROTOCOL_ATTACKS[Protocol(protocol)]
        face_folders = tuple(p for p in (self.options.face_locations, root / "face-locations") if p is not None)
        recordings, unplaced = [], []
        for folder, split in SPLIT_FOLDERS.items():
            if not (root / folder).is_dir():
                continue
            for rel in iter_files(root / folder, VIDEO_SUFFIXES):
                rel = Path(folder) / rel
                if "enroll" in rel.parts[1:-1]:
                    continue  # enrolment clips are for verification, not PAD
                try:
                    recording = self._parse(root, rel, split, face_folders)
                except Unplaced as exc:
                    unplaced.append((rel.as_posix(), str(exc)))
                    continue
                if self._keep(recording, keep_attack):
                    recordings.append(recording)
        return ScanResult(recordings, unplaced)

    def _keep(self, recording: Recording, keep_attack: Callable[[str, str], bool]) -> bool:
        extras = recording.extras
        if self.options.lighting is not None and extras["light"] != self.options.lighting:
            return False
        if recording.label is Label.LIVE:
            return True
        if self.options.support is not None and extras["support"] != self.options.support:
            return False
        return keep_attack(recording.attack_type, extras["medium"])

    def _parse(self, root: Path, rel: Path, split: Split, face_folders: tuple[Path, ...]) -> Recording:
        kind = rel.parts[1] if len(rel.parts) > 2 else ""
        fields = rel.stem.split("_")
        if kind == "real" and len(rel.parts) == 3:
            label, attack_type, extras, client = _parse_real(fields)
        elif kind == "attack" and len(rel.parts) == 4 and rel.parts[2] in tuple(Support):
            label, attack_type, extras, client = _parse_attack(fields)
            extras = {"support": rel.parts[2], **extras}
        else:
            raise Unplaced("expected <split>/real/<file> or <split>/attack/{fixed,hand}/<file>")
        home = CLIENT_SPLIT.get(client)
        if home is None:
            raise Unplaced(f"client {client} is not a Replay-Attack client")
        if home is not split:
            raise Unplaced(f"client {client} belongs to the {home} split, found under {rel.parts[0]}/")
        return Recording(path=root / rel, label=label, attack_type=attack_type, subject=str(client), split=split,
                         database=self.name, source=rel.as_posix(),
                         annotations=find_annotation(root, rel, face_folders), extras=extras)


def _client(field: str) -> int:
    if not (field.startswith("client") and field[6:].isdigit()):
        raise Unplaced(f"expected clientNNN, got {field!r}")
    return int(field[6:])


def _light(field: str) -> str:
    if field not in tuple(Lighting):
        raise Unplaced(f"unknown lighting {field!r} (expected adverse or controlled)")
    return field


def _parse_real(fields: list[str]) -> tuple[Label, str, dict[str, str], int]:
    # client001 session01 webcam authenticate adverse 1
    if len(fields) != 6 or fields[2:4] != ["webcam", "authenticate"] or fields[5] not in ("1", "2"):
        raise Unplaced("expected clientNNN_session01_webcam_authenticate_<light>_<1|2>")
    extras = {"session": fields[1], "capture_device": "webcam", "light": _light(fields[4]), "take": fields[5]}
    return Label.LIVE, BONA_FIDE, extras, _client(fields[0])


def _parse_attack(fields: list[str]) -> tuple[Label, str, dict[str, str], int]:
    # attack print client001 session01 highdef photo adverse
    if len(fields) != 7 or fields[0] != "attack":
        raise Unplaced("expected attack_<device>_clientNNN_session01_<capture>_<photo|video>_<light>")
    device, capture, medium = fields[1], fields[4], fields[5]
    if device not in ATTACK_DEVICES or capture not in CAPTURE_DEVICES or medium not in MEDIA:
        raise Unplaced(f"unknown attack combination {device}/{capture}/{medium}")
    extras = {"session": fields[3], "medium": medium, "capture_device": capture, "light": _light(fields[6])}
    return Label.SPOOF, device, extras, _client(fields[2])
