"""3DMAD (3D Mask Attack Database) reader: `{client:02d}_{session:02d}_{shot:02d}.hdf5` anywhere under
the root (the release keeps them in one flat `Data/` folder).

Sessions 1 and 2 are real accesses (two weeks apart), session 3 is the 3D mask attack. Splits follow
bob's `classification` protocol: train clients 1-7, dev 8-12, test 13-17. Each HDF5 file holds the
Kinect colour frames, depth and the manually annotated eye positions (`Eye_Pos`), so the file itself
is the recording's annotation (`annotations.read_eye_positions`, `annotations.eyes_to_box`).
The reader does not open the files; a second file with the same name elsewhere is reported unplaced.
"""

from __future__ import annotations

import re
from pathlib import Path

from ...labels import BONA_FIDE, Label
from ..records import Recording, Split
from .base import DatabaseReader, ScanResult, Unplaced, iter_files, register_reader

HDF5_SUFFIXES = frozenset({".hdf5", ".h5"})
NAME = re.compile(r"^(\d{2})_(\d{2})_(\d{2})$")
MASK_SESSION = 3
N_CLIENTS, N_SESSIONS, N_SHOTS = 17, 3, 5


def client_split(client: int) -> Split:
    """bob's classification protocol."""
    if client <= 7:
        return Split.TRAIN
    return Split.DEV if client <= 12 else Split.TEST


@register_reader("3dmad", aliases=("maskattack", "mask-attack", "3d-mad"), smoke={"files": {"Data/01_01_01.hdf5": "", "Data/08_03_05.hdf5": ""},
    "recordings": 2})
class MaskAttackReader(DatabaseReader):
    description = "3DMAD: 17 clients, Kinect colour + depth, 3D mask attacks, annotated eyes"
    layout = "files named {client:02d}_{session:02d}_{shot:02d}.hdf5 (e.g. Data/01_01_01.hdf5)"
    protocols = ("classification",)
    default_protocol = "classification"

    def _scan(self, root: Path, protocol: str) -> ScanResult:
        recordings: dict[str, Recording] = {}
        unplaced = []
        for rel in iter_files(root, HDF5_SUFFIXES):
            try:
                recording = self._parse(root, rel)
            except Unplaced as exc:
                unplaced.append((rel.as_posix(), str(exc)))
                continue
            first = recordings.get(rel.stem)
            if first is not None:
                unplaced.append((rel.as_posix(), f"duplicate of {first.source}"))
                continue
            recordings[rel.stem] = recording
        return ScanResult(list(recordings.values()), unplaced)

    def _parse(self, root: Path, rel: Path) -> Recording:
        match = NAME.match(rel.stem)
        if match is None:
            raise Unplaced("expected a name like 01_01_01.hdf5 (client_session_shot)")
        client, session, shot = (int(g) for g in match.groups())
        if not (1 <= client <= N_CLIENTS and 1 <= session <= N_SESSIONS and 1 <= shot <= N_SHOTS):
            raise Unplaced(f"client 1..{N_CLIENTS}, session 1..{N_SESSIONS}, shot 1..{N_SHOTS} expected")
        is_mask = session == MASK_SESSION
        return Recording(path=root / rel, label=Label.SPOOF if is_mask else Label.LIVE,
                         attack_type="mask" if is_mask else BONA_FIDE, subject=str(client),
                         split=client_split(client), database=self.name, source=rel.as_posix(),
                         annotations=root / rel, extras={"session": str(session), "shot": str(shot)})
