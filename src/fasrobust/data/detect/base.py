"""Face detection behind one interface, registered by name (frames -> face boxes).

Sits between frame sampling and cropping. A detector maps one uint8 RGB frame (H, W, 3) to the faces
it finds, each a `Detection` (box in frame pixels, a score, landmarks when the detector has them).
Detectors that need to know which frame of which recording they look at (the `annotations` detector
reads the boxes a database ships) get a `FrameContext`. Batching is offered where it is cheap.

Detectors are registered by name in `DETECTORS` (every module of this package, and the plug-ins of the
entry-point group `fasrobust.detectors`); `auto` resolves to `mtcnn` when its extra is installed, else to
the `cascade` fallback, and the resolved name is what outputs record.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import ConfigError
from ...registry import Registry
from ..frames import Orientation
from ..records import Box, Recording

#: The name that stands for the best detector installed (`resolve_detector_name`).
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


#: Every face detector by name; each declares its description and the options a test builds it with.
DETECTORS: Registry[Callable[..., Detector]] = Registry("detector", package="fasrobust.data.detect",
                                                      group="fasrobust.detectors")


def register_detector(name: str, *, description: str = "", smoke: dict[str, Any] | None = None
                      ) -> Callable[[Callable[..., Detector]], Callable[..., Detector]]:
    """Class decorator: `@register_detector("mtcnn", description=...)`; the class's `name` becomes it."""

    def decorate(cls: Callable[..., Detector]) -> Callable[..., Detector]:
        cls.name = name  # type: ignore[attr-defined]
        return DETECTORS.register(name, description=description, smoke=smoke)(cls)

    return decorate


def mtcnn_available() -> bool:
    """True when the `mtcnn` extra (the package and TensorFlow) is installed; imports neither."""
    return all(importlib.util.find_spec(module) is not None for module in ("mtcnn", "tensorflow"))


def resolve_detector_name(name: str) -> str:
    """The concrete detector `name` stands for (`auto` -> mtcnn if installed, else cascade)."""
    name = str(name)
    if name == AUTO:
        return "mtcnn" if mtcnn_available() else "cascade"
    if name not in DETECTORS:
        raise ConfigError(f"detector: unknown detector '{name}' (known: {', '.join([*DETECTORS.names(), AUTO])})")
    return name


def create_detector(name: str, **options: Any) -> Detector:
    """A detector by registry name; `auto` is resolved first."""
    return DETECTORS.create(resolve_detector_name(name), **options)


def registered_detectors() -> list[str]:
    return DETECTORS.names()
