"""A light face detector for machines without the MTCNN extra: the OpenCV LBP frontal-face cascade
that scikit-image ships (`skimage/data/lbpcascade_frontalface_opencv.xml`), run by
`skimage.feature.Cascade`. No extra dependency, no download.

The cascade returns many overlapping windows and no confidence. As OpenCV does with its
`minNeighbors`, we group windows that overlap (IoU >= 0.3) and score a group by how many windows
agree; a lone window is a weak face. The group's box is the mean of its windows.

Windows smaller than `min_face_share` of the frame's shorter side (and never under 24 pixels) are
not tried: the search cost grows steeply with small windows (at 640x480, 24-pixel windows cost
~4x the time of 72-pixel ones), and a face that small gives no useful 32x32 crop anyway.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..records import Box
from .base import Detection, Detector, FrameContext, register_detector


@register_detector("cascade", description="scikit-image's LBP cascade, a light fallback without TensorFlow", smoke={})
class CascadeDetector(Detector):

    def __init__(self, *, scale_factor: float = 1.2, step_ratio: float = 1.0, min_face_size: int = 24,
                 min_face_share: float = 0.15, min_neighbours: int = 1, overlap: float = 0.3):
        from skimage import data
        from skimage.feature import Cascade

        self.scale_factor = float(scale_factor)
        self.step_ratio = float(step_ratio)
        self.min_face_size = int(min_face_size)
        self.min_face_share = float(min_face_share)
        self.min_neighbours = int(min_neighbours)
        self.overlap = float(overlap)
        self._cascade = Cascade(data.lbp_frontal_face_cascade_filename())

    def detect(self, frame: np.ndarray, context: FrameContext | None = None) -> list[Detection]:
        side = min(frame.shape[:2])
        smallest = max(self.min_face_size, int(side * self.min_face_share))
        if side < smallest:
            return []
        windows = self._cascade.detect_multi_scale(
            img=np.ascontiguousarray(frame), scale_factor=self.scale_factor, step_ratio=self.step_ratio,
            min_size=(smallest, smallest), max_size=(side, side))
        boxes = np.array([[w["c"], w["r"], w["width"], w["height"]] for w in windows], dtype=np.float64)
        return [d for d in _group(boxes, self.overlap) if d.score >= self.min_neighbours]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "model": "skimage lbpcascade_frontalface_opencv.xml",
                "scale_factor": self.scale_factor, "min_face_size": self.min_face_size,
                "min_face_share": self.min_face_share,
                "min_neighbours": self.min_neighbours}


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[0] + box[2], boxes[:, 0] + boxes[:, 2])
    y1 = np.minimum(box[1] + box[3], boxes[:, 1] + boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    return inter / (box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter)


def _group(boxes: np.ndarray, overlap: float) -> list[Detection]:
    """Greedy grouping, largest windows first: each group is scored by its number of windows."""
    order = np.argsort(-boxes[:, 2] * boxes[:, 3]) if len(boxes) else np.array([], dtype=int)
    remaining = list(order)
    detections = []
    while remaining:
        seed = boxes[remaining[0]]
        members = [i for i in remaining if _iou(seed, boxes[[i]])[0] >= overlap]
        remaining = [i for i in remaining if i not in members]
        x, y, w, h = np.rint(boxes[members].mean(axis=0)).astype(int)
        detections.append(Detection(Box(int(x), int(y), int(w), int(h)), float(len(members))))
    return detections
