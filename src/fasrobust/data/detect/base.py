"""Face detection behind one interface, registered by name (frames -> face boxes).

Sits between frame sampling and cropping. A detector maps one uint8 RGB frame (H, W, 3) to the faces
it finds, each a `Detection` (box in frame pixels, a score, landmarks when the detector has them).
Detectors that need to know which frame of which recording they look at (the `annotations` detector
reads the boxes a database ships) get a `FrameContext`. Batching is offered where it is cheap.

Registry names are the `DetectorName` enum; `auto` resolves to `mtcnn` when its extra is installed,
else to the `cascade` fallback, and the resolved name is what outputs record.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from ...errors import ConfigError
from ..frames import Orientation
from ..records import Box, Recording


class DetectorName(StrEnum):
    MTCNN = "mtcnn"
    ANNOTATIONS = "annotations"
    CASCADE = "cascade"
    AUTO = "auto"


@dataclass(frozen=True)
class Detection:
    box: Box
    score: float
    landmarks: np.ndarray | None = None  # (5, 2) x, y for MTCNN; None otherwise

    @property
    def area(self) -> int:
        return self.box.w * self.box.h


@dataclass(frozen=True)
class FrameContext:
    """Which recording and which frame index a frame came from, and how the frame was turned upright
    (a phone video's display rotation; `shape` is the upright frame's) from the coded frame that a
    database's shipped boxes refer to."""

    recording: Recording | None = None
    frame_index: int = 0
    orientation: Orientation = Orientation()
    shape: tuple[int, ...] = ()


class Detector(ABC):
    """Finds faces in uint8 RGB frames. Keeps its model, never per-call state."""

    name: str = "detector"

    @abstractmethod
    def detect(self, frame: np.ndarray, context: FrameContext | None = None) -> list[Detection]:
        """All faces found in one (H, W, 3) uint8 RGB frame, in no particular order."""

    def detect_batch(self, frames: Sequence[np.ndarray],
                     contexts: Sequence[FrameContext | None] | None = None) -> list[list[Detection]]:
        """Faces of several frames; subclasses override when one call for many frames is cheaper."""
        contexts = contexts if contexts is not None else [None] * len(frames)
        return [self.detect(frame, context) for frame, context in zip(frames, contexts, strict=True)]

    def describe(self) -> dict[str, Any]:
        """What outputs record about this detector (name, versions, thresholds)."""
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"


def best_detection(detections: Sequence[Detection]) -> Detection | None:
    """The face to keep when several are found: the most confident, then the largest."""
    if not detections:
        return None
    return max(detections, key=lambda d: (d.score, d.area))


_REGISTRY: dict[str, Callable[..., Detector]] = {}


def register_detector(name: DetectorName) -> Callable[[Callable[..., Detector]], Callable[..., Detector]]:
    def add(factory: Callable[..., Detector]) -> Callable[..., Detector]:
        _REGISTRY[DetectorName(name).value] = factory
        return factory

    return add


def mtcnn_available() -> bool:
    """True when the `mtcnn` extra (the package and TensorFlow) is installed; imports neither."""
    return all(importlib.util.find_spec(module) is not None for module in ("mtcnn", "tensorflow"))


def resolve_detector_name(name: str | DetectorName) -> DetectorName:
    """The concrete detector `name` stands for (`auto` -> mtcnn if installed, else cascade)."""
    try:
        name = DetectorName(name)
    except ValueError:
        known = ", ".join(d.value for d in DetectorName)
        raise ConfigError(f"detector: unknown detector '{name}' (known: {known})") from None
    if name is DetectorName.AUTO:
        return DetectorName.MTCNN if mtcnn_available() else DetectorName.CASCADE
    return name


def create_detector(name: str | DetectorName, **options: Any) -> Detector:
    """A detector by registry name; `auto` is resolved first."""
    resolved = resolve_detector_name(name)
    return _REGISTRY[resolved.value](**options)


def registered_detectors() -> list[str]:
    return sorted(_REGISTRY)
