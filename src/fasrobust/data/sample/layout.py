"""What the SYNTHETIC sample database contains and where each clip goes: the Replay-Attack layout
(see DATASETS.md), so the real `replay-attack` reader reads it unchanged.

Subject i goes to split i mod 3 (train, devel, test), as the next unused client id of that split's
published Replay-Attack client list, so splits are subject-disjoint and the reader's id check passes.
Each subject has 4 live clips (both lightings, takes 1 and 2) and 5 attacks, one per Replay-Attack
device combination (print of a high-definition photo; phone photo; phone video; tablet photo; tablet
video), with support (fixed/hand) and lighting alternating so every pairing appears across subjects.
The full Replay-Attack has 20 attacks per client; 5 keep the classes near balanced and generation fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from ...labels import Label
from ..records import Split
from .scene import Lighting

SPLIT_ORDER = (Split.TRAIN, Split.DEV, Split.TEST)
SPLIT_FOLDERS = {Split.TRAIN: "train", Split.DEV: "devel", Split.TEST: "test"}
#: Replay-Attack's published client ids per split, in the order the sample database uses them.
CLIENTS = {
    Split.TRAIN: (1, 2, 4, 6, 7, 8, 12, 16, 18, 25, 27, 103, 105, 108, 110),
    Split.DEV: (3, 5, 10, 15, 17, 22, 29, 30, 101, 111, 113, 114, 116, 118, 119),
    Split.TEST: (9, 11, 13, 14, 19, 20, 21, 23, 24, 26, 28, 31, 102, 104, 106, 107, 109, 112, 115, 117),
}
#: (attack device, device that captured the original, medium): Replay-Attack's five combinations.
ATTACKS = (
    ("print", "highdef", "photo"),
    ("mobile", "mobile", "photo"),
    ("mobile", "mobile", "video"),
    ("highdef", "highdef", "photo"),
    ("highdef", "highdef", "video"),
)
SUPPORTS = ("fixed", "hand")
LIVE_CLIPS = tuple(
    (lighting, take) for lighting in (Lighting.ADVERSE, Lighting.CONTROLLED) for take in (1, 2)
)
CLIPS_PER_SUBJECT = len(LIVE_CLIPS) + len(ATTACKS)


@dataclass(frozen=True)
class ClipSpec:
    """One clip to generate. `number` (0..CLIPS_PER_SUBJECT-1) seeds it together with the subject."""

    subject: int
    number: int
    split: Split
    client: int
    lighting: Lighting
    take: int = 0  # live clips only
    device: str = ""  # attacks only: print, mobile, highdef
    capture: str = ""
    medium: str = ""
    support: str = ""

    @property
    def label(self) -> Label:
        return Label.SPOOF if self.device else Label.LIVE

    @property
    def path(self) -> PurePosixPath:
        """The video's path relative to the database root."""
        split = SPLIT_FOLDERS[self.split]
        if self.label is Label.LIVE:
            name = f"client{self.client:03d}_session01_webcam_authenticate_{self.lighting}_{self.take}.mov"
            return PurePosixPath(split, "real", name)
        name = (
            f"attack_{self.device}_client{self.client:03d}_session01_{self.capture}_{self.medium}"
            f"_{self.lighting}.mov"
        )
        return PurePosixPath(split, "attack", self.support, name)

    @property
    def face_path(self) -> PurePosixPath:
        """Its face locations, as Replay-Attack ships them: face-locations/<same path>.face."""
        return PurePosixPath("face-locations", self.path.with_suffix(".face"))


def max_subjects() -> int:
    return len(SPLIT_ORDER) * min(len(ids) for ids in CLIENTS.values())


def plan(subjects: int) -> list[ClipSpec]:
    """All clips of a database with `subjects` subjects. The first subjects are the same whatever the
    total, so a small database is a prefix of the default one."""
    clips = []
    for subject in range(subjects):
        split = SPLIT_ORDER[subject % len(SPLIT_ORDER)]
        client = CLIENTS[split][subject // len(SPLIT_ORDER)]
        number = 0
        for lighting, take in LIVE_CLIPS:
            clips.append(ClipSpec(subject, number, split, client, lighting, take=take))
            number += 1
        for k, (device, capture, medium) in enumerate(ATTACKS):
            support = SUPPORTS[(subject + k) % 2]
            lighting = (Lighting.ADVERSE, Lighting.CONTROLLED)[(subject // 2 + k) % 2]
            clips.append(
                ClipSpec(
                    subject,
                    number,
                    split,
                    client,
                    lighting,
                    device=device,
                    capture=capture,
                    medium=medium,
                    support=support,
                )
            )
            number += 1
    return clips
