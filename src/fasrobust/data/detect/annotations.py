"""The face locations a database ships, used as a detector: Replay-Attack and CASIA-FASD `.face`
files (one box per frame) and 3DMAD's `Eye_Pos` (eye centres, turned into a box).

Fast and exactly reproducible, but only for recordings that carry annotations; it needs to know
which frame of which recording it is shown, through the `FrameContext`. Parsing is the readers'
job (`fasrobust.data.annotations`); this module only looks boxes up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..frames import HDF5_SUFFIXES
from ..records import Box, Recording
from .base import Detection, Detector, FrameContext, register_detector


@register_detector("annotations", description="the face boxes a database ships (.face files, 3DMAD's eye positions)", smoke={})
class AnnotationDetector(Detector):
    """Looks up the shipped box of (recording, frame). The file of the last recording is kept, since
    frames of one recording arrive together."""


    def __init__(self) -> None:
        self._loaded: tuple[Path, dict[int, Box | None]] | None = None

    def detect(self, frame: np.ndarray, context: FrameContext | None = None) -> list[Detection]:
        box = self.lookup(context)
        return [] if box is None else [Detection(box, 1.0)]

    def lookup(self, context: FrameContext | None) -> Box | None:
        """The shipped box for this frame, in the upright frame the context describes, or None when
        there is none (or no annotation file)."""
        if context is None or context.recording is None:
            return None
        source = annotation_file(context.recording)
        if source is None:
            return None
        if self._loaded is None or self._loaded[0] != source:
            self._loaded = (source, _read_boxes(source))
        box = self._loaded[1].get(int(context.frame_index))
        if box is None or context.orientation.is_identity:
            return box
        return context.orientation.box(box, context.shape)  # shipped boxes are in the coded frame

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "source": "database face locations (.face files, 3DMAD Eye_Pos)"}


def annotation_file(recording: Recording) -> Path | None:
    """Where a recording's face locations are: its `annotations` file, or the 3DMAD HDF5 itself."""
    if recording.annotations is not None:
        return Path(recording.annotations)
    if Path(recording.path).suffix.lower() in HDF5_SUFFIXES:
        return Path(recording.path)
    return None


def _read_boxes(path: Path) -> dict[int, Box | None]:
    from .. import annotations as shipped

    if path.suffix.lower() in HDF5_SUFFIXES:
        eyes = shipped.read_eye_positions(path)
        return {i: shipped.eyes_to_box(row) for i, row in enumerate(np.asarray(eyes))}
    return dict(shipped.read_face_file(path))
