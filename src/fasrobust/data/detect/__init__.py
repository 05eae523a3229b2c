"""Face detectors, registered by name: `mtcnn` (the paper's), `annotations` (boxes the database
ships), `cascade` (a light fallback) and `auto` (mtcnn when installed, else cascade)."""

from . import annotations, cascade, mtcnn  # noqa: F401  (registers the detectors)
from .base import (
    Detection,
    Detector,
    DetectorName,
    FrameContext,
    best_detection,
    create_detector,
    mtcnn_available,
    registered_detectors,
    resolve_detector_name,
)

__all__ = ["Detection", "Detector", "DetectorName", "FrameContext", "best_detection", "create_detector",
           "mtcnn_available", "registered_detectors", "resolve_detector_name"]
