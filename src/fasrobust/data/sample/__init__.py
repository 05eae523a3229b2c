"""The embedded SYNTHETIC sample database: a small face anti-spoofing database in the Replay-Attack
layout, generated deterministically on first use from face photographs that ship inside installed
packages (scikit-image, matplotlib), so the whole pipeline (reader, decoder, face locations,
detector, training, attack) runs without downloading or licensing anything.

It is synthetic, and says so everywhere: README.txt in its root, `"synthetic": true` in its
manifest.json, and here. Live clips are people composited into simulated rooms and filmed by a
simulated webcam; attacks are simulated prints and phone/tablet replays of them, recaptured by the
same webcam. Accuracy and robustness measured on it exercise the software, not real attacks.
It comes in two domains (domain.py): `a`, the database as it always was, and `b`, another simulated
site (another webcam, other lamps, stronger compression), the stand-in for a second database in
cross-database evaluation (reader option `domain: b`); both are equally SYNTHETIC.

Flow: domain.py (the site's camera and lights), faces.py (portraits) -> scene.py (live clips) /
print_attack.py, replay_attack.py, medium.py, presentation.py (attack clips) -> camera.py (every
frame's capture) -> writer.py (.mov + .face) -> layout.py (names and splits) -> build.py
(`ensure_sample_database`, caching).
"""

from .build import (
    DEFAULT_FRAMES,
    DEFAULT_SUBJECTS,
    SAMPLE_DATABASE_VERSION,
    default_root,
    ensure_sample_database,
    open_sample_database,
)
from .domain import SITES, Domain, Site

__all__ = [
    "DEFAULT_FRAMES",
    "DEFAULT_SUBJECTS",
    "SAMPLE_DATABASE_VERSION",
    "SITES",
    "Domain",
    "Site",
    "default_root",
    "ensure_sample_database",
    "open_sample_database",
]
