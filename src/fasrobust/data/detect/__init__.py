"""Face detectors, registered by name: `mtcnn` (the paper's), `annotations` (boxes the database
ships), `cascade` (a light fallback) and `auto` (mtcnn when installed, else cascade)."""

from .base import (
    AUTO,
    DETECTORS,
    Detection,
    Detector,
    FrameContext,
    best_detection,
    create_detector,
    mtcnn_available,
    registered_detectors,
    resolve_detector_name,
)

__all__ = ["Detection", "Detector", "AUTO", "DETECTORS", "FrameContext", "best_detection", "create_detector",
           "mtcnn_available", "registered_detectors", "resolve_detector_name"]
