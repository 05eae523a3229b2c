"""The paper's face detector, MTCNN, from the `mtcnn` package (TensorFlow; its weights ship inside
the wheel, so it runs offline). Imported only when used, through the `mtcnn` extra.

facenet-pytorch would keep us in PyTorch, but it pins torch<2.3; the TensorFlow package installs
beside our torch and gives the same three-stage P/R/O-Net cascade with five landmarks.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ...errors import require
from ..records import Box
from .base import Detection, Detector, FrameContext, register_detector

_LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """TensorFlow's C++ start-up lines (absl, oneDNN) ignore Python's logging: hide fd 2 meanwhile."""
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (some embedded interpreters): nothing to hide
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _load_tensorflow(threads: int | None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _quiet_stderr():
        tf = require("tensorflow", "mtcnn", "The MTCNN face detector")
        tf.get_logger().setLevel("ERROR")
        if threads:
            with contextlib.suppress(RuntimeError):  # already initialised in this process: keep its setting
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(1)
    return tf


@register_detector("mtcnn", description="MTCNN, the paper's face detector (the mtcnn extra: TensorFlow)")
class MtcnnDetector(Detector):
    """MTCNN with the package's default thresholds (0.6, 0.7, 0.8) and a minimum face of
    `min_face_size` pixels; `batch` frames of one size go through the network together."""


    def __init__(self, *, min_face_size: int = 20, batch: int = 8, threads: int | None = None):
        self.min_face_size = int(min_face_size)
        self.batch = max(1, int(batch))
        _load_tensorflow(threads)
        module = require("mtcnn", "mtcnn", "The MTCNN face detector")
        with _quiet_stderr():
            self._model = module.MTCNN(stages="face_and_landmarks_detection", device="CPU:0")

    def detect(self, frame: np.ndarray, context: FrameContext | None = None) -> list[Detection]:
        return self.detect_batch([frame])[0]

    def detect_batch(self, frames: Sequence[np.ndarray],
                     contexts: Sequence[FrameContext | None] | None = None) -> list[list[Detection]]:
        out: list[list[Detection]] = []
        for start in range(0, len(frames), self.batch):
            chunk = [np.ascontiguousarray(f, dtype=np.uint8) for f in frames[start:start + self.batch]]
            if len({f.shape for f in chunk}) > 1:  # the package pads mixed sizes; one by one is exact
                found = [self._model.detect_faces(f, min_face_size=self.min_face_size) for f in chunk]
            else:
                found = self._model.detect_faces(chunk, min_face_size=self.min_face_size)
            out.extend([_to_detections(faces) for faces in found])
        return out

    def describe(self) -> dict[str, Any]:
        from importlib.metadata import version

        return {"name": self.name, "package": f"mtcnn {version('mtcnn')}",
                "min_face_size": self.min_face_size, "thresholds": [0.6, 0.7, 0.8]}


def _to_detections(faces: list[dict]) -> list[Detection]:
    detections = []
    for face in faces:
        x, y, w, h = (int(round(float(v))) for v in face["box"])
        if w <= 0 or h <= 0:
            continue
        points = face.get("keypoints")
        landmarks = (np.array([points[k] for k in _LANDMARKS], dtype=np.float32)
                     if points and all(k in points for k in _LANDMARKS) else None)
        detections.append(Detection(Box(x, y, w, h), float(face["confidence"]), landmarks))
    return detections
