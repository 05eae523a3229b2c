"""The paper's constants in one place (a leaf, open to every stage): Bousnina et al. 2020, "Unraveling
robustness of deep face anti-spoofing models against pixel attacks". The attack, its budget, the
threshold, Table 1's sizes and the published numbers of Tables 3-8 (`paper_numbers.yaml`, percentages
as printed), so no other module writes one of them down again."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from .labels import LIVE_THRESHOLD

#: The paper's attack: the black-box differential-evolution few-pixel attack (`--attack pixel`).
PAPER_ATTACK = "pixel"
#: Its threshold on P(live): a face is called live iff P(live) >= 0.5 (`labels.LIVE_THRESHOLD`).
PAPER_THRESHOLD = LIVE_THRESHOLD
#: DE candidates per image, in total (Su et al.'s convention, not scipy's multiplier).
PAPER_POPULATION = 400
#: DE generations per image in Tables 3-8.
PAPER_ITERATIONS = 200
#: Where Fig. 4 sees the recall drop saturate, in DE generations.
SATURATION_ITERATIONS = 300
#: The pixel counts of Fig. 3.
PAPER_PIXELS = tuple(range(1, 10))
#: Table 1 (balanced 32x32 crops), by database name: {split: {label: count}}.
TABLE1_CAPS: dict[str, dict[str, dict[str, int]]] = {
    "3dmad": {"train": {"live": 240, "spoof": 240}, "test": {"live": 100, "spoof": 100}},
    "casia-fasd": {"train": {"live": 360, "spoof": 360}, "test": {"live": 540, "spoof": 540}},
    "replay-attack": {"train": {"live": 1200, "spoof": 1200}, "test": {"live": 800, "spoof": 800}},
    "rose-youtu": {"train": {"live": 2240, "spoof": 2240}, "test": {"live": 2245, "spoof": 2245}},
}

#: Our database names (and common spellings) -> the paper's database keys in the YAML file.
_ALIASES = {
    "3dmad": "3dmad", "maskattack": "3dmad", "3d-mad": "3dmad",
    "casia-fasd": "casia-fasd", "casia": "casia-fasd", "casia_fasd": "casia-fasd",
    "replay-attack": "replay-attack", "replay": "replay-attack", "replayattack": "replay-attack",
    "rose-youtu": "rose-youtu", "rose": "rose-youtu", "rose_youtu": "rose-youtu",
}
DISPLAY_NAMES = {"3dmad": "3DMAD", "casia-fasd": "CASIA", "replay-attack": "Replay-Attack",
                 "rose-youtu": "ROSE-Youtu"}


def paper_queries(iterations: int = PAPER_ITERATIONS, population: int = PAPER_POPULATION) -> int:
    """Queries per image of the paper's DE: the clean image, the start population, one per generation."""
    return 1 + population * (iterations + 1)


@cache
def published() -> dict[str, Any]:
    """The published numbers (Tables 3-8) as a dict, read once."""
    text = (resources.files(__package__) / "paper_numbers.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def paper_database(name: str | None) -> str | None:
    """The paper's key for one of our database names, or None when it is not one of the four."""
    if not name:
        return None
    return _ALIASES.get(str(name).strip().lower())


def citation() -> str:
    return str(published()["source"])
